#!/usr/bin/env bash
# Regenerate samples/ (user_demographics.jsonl, transactions.jsonl.gz,
# expected-features.jsonl) deterministically. Needs python3 with numpy; uses
# the training venv when it exists.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TRAINING_VENV:-$repo_root/training/.venv}"
case "$venv" in /*) ;; *) venv="$repo_root/$venv" ;; esac
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$venv/bin/python" ]; then python="$venv/bin/python"; else python=python3; fi
fi
exec "$python" "$repo_root/training/make_samples.py" "$@"
