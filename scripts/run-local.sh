#!/usr/bin/env bash
# The main job on a fresh machine: installs the build dependencies, builds the host (release), and runs the
# staging pipeline (pipelines/local.json) on the bundled sample data with the in-process scorer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> swift build -c release (a first build takes a few minutes)"
swift build -c release --product pipeline-host 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
test -x .build/release/pipeline-host || { echo "build failed" >&2; exit 1; }
# A fresh run each time: the previous output and checkpoint would otherwise make the replay resume at its end.
rm -rf out/local data/fraud-local
echo "==> pipeline-host run pipelines/local.json"
.build/release/pipeline-host run pipelines/local.json "$@"
echo
echo "scored events: out/local/scored.jsonl   alerts: out/local/alerts.jsonl   dead letters: out/local/dead-letter.jsonl"
