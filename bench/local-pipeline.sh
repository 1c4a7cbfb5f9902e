#!/usr/bin/env bash
# Benchmark of the whole staging pipeline (pipelines/local.json: file → broadcast join → rolling aggregates →
# scaling → 100-tree XGBoost → file sinks) on 1M generated transactions of 20k users, release build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
. bench/common.sh
bench_data full
EVENTS=$(wc -l < "$DATA/transactions.jsonl")
BYTES=$(stat -c %s "$DATA/transactions.jsonl")
echo "input: $EVENTS events, $BYTES bytes; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
INPUT="$DATA/transactions.jsonl" USERS="$DATA/users.jsonl" OUT="$WORK/local-out" CHECKPOINT_DIR="$WORK/local-cp" \
python3 bench/measure.py --runs "$RUNS" --events "$EVENTS" --bytes "$BYTES" --label "pipelines/local.json" \
  --setup "rm -rf $WORK/local-out $WORK/local-cp" -- "$BIN" run pipelines/local.json --quiet
echo "alerts: $(wc -l < "$WORK/local-out/alerts.jsonl"), scored: $(wc -l < "$WORK/local-out/scored.jsonl")"
