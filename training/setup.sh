#!/usr/bin/env bash
# Create (or reuse) the training virtualenv and install the pinned requirements.
#   TRAINING_VENV  venv location (default: training/.venv, relative to the repo root)
#   PYTHON         interpreter used to create the venv (default: python3)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
venv="${TRAINING_VENV:-training/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    echo "creating virtualenv at $venv" >&2
    "$python" -m venv "$venv"
else
    echo "reusing virtualenv at $venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r training/requirements.txt
"$venv/bin/python" -c 'import xgboost, sklearn, numpy; print("xgboost", xgboost.__version__, "| scikit-learn", sklearn.__version__, "| numpy", numpy.__version__)'
