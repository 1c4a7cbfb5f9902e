#!/usr/bin/env bash
# The project's test command: Python checks (feature contract, Glue job, Terraform), then the Swift suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

echo "==> training feature contract (pytest)"
python3 -m pytest -q training/tests

echo "==> terraform and glue checks"
bash scripts/check-terraform.sh

echo "==> swift build"
swift build 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Linking|Write|Build)' || true
test -x .build/debug/pipeline-host || { echo "swift build failed" >&2; exit 1; }

echo "==> swift test"
swift test
