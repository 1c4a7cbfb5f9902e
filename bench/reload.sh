#!/usr/bin/env bash
# What a hot reload costs a busy pipeline (issue 15): the staging pipeline (pipelines/local.json's chain) on 1M
# generated transactions, release build, with RELOADS reloads by SIGHUP (default 4) about every 2 s, each switching
# the scorer between models/v1 and an A/B split of v1 and the shallow test model (so the scaler and scorer are
# rebuilt and the rolling aggregates carried). records/s is sampled from /status.json every 50 ms: for each reload
# the second before the signal, the time from the signal until the reload is applied, and the second after.
# Also the whole run's throughput against a run without reloads. RUNS rounds (default 3); medians.
# RELOAD_KIND=weights: each reload changes only an A/B split's weights (the scorer alone is rebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
RELOADS=${RELOADS:-4}
. bench/common.sh
bench_data full
mkdir -p "$WORK/reload"
echo "load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $(wc -l < "$DATA/transactions.jsonl") events, $RUNS rounds, $RELOADS reloads (${RELOAD_KIND:-full}) each"
python3 bench/reload_bench.py "$BIN" "$WORK/reload" "$DATA" "$RUNS" "$RELOADS" "$PWD"
