#!/usr/bin/env bash
# Rebuild everything the training side produces, deterministically:
#   training/data/ (not committed), models/v1/, Tests/Fixtures/xgb-parity.jsonl, samples/
# Usage: bash training/reproduce.sh     (from any directory)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
bash training/setup.sh
venv="${TRAINING_VENV:-training/.venv}"
py="$venv/bin/python"
"$py" training/generate.py --users 5000 --transactions 400000 --seed 7 \
    --start-ts 1717200000 --days 60 --out-dir training/data
"$py" training/train.py --data-dir training/data --models-dir models --version v1
"$py" training/make_parity.py --data-dir training/data --bundle models/v1 \
    --out Tests/Fixtures/xgb-parity.jsonl
PYTHON="$py" bash training/make_samples.sh
"$py" -m pytest -q training/tests
