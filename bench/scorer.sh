#!/usr/bin/env bash
# Benchmark of issue 4: the in-process scorer (scaling + 100-tree XGBoost model), release build; and, in the
# same run when training/.venv exists, xgboost's own predict on the same rows.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product scorer-bench 2>&1 | grep -E "error|warning: unre" || true
echo "load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
.build/release/scorer-bench "$PWD"
if [ -x training/.venv/bin/python ]; then
  training/.venv/bin/python bench/xgb_reference.py "$PWD"
else
  echo "(no training/.venv: run training/setup.sh for the xgboost reference)"
fi
