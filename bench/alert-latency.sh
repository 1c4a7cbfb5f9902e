#!/usr/bin/env bash
# Event → alert latency through the real chain at a steady rate: Kinesis (moto_server) → demographics join →
# rolling aggregates → scaler → local XGBoost (the bundle's threshold) → SNS (moto) for the alerts, measured
# from each alerting event's time (stamped at PutRecords) to its notification reaching an HTTP subscriber of
# the topic (where production has the Slack-formatting Lambda). RUNS runs (default 3) of SECONDS (60) at RATE events/s (1000); prints each run
# and the medians.
# Release build; python3 with boto3 and moto[server]==5.2.1 (scripts/setup.sh --test installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
RATE=${RATE:-1000}
SECONDS_PER_RUN=${SECONDS:-60}
WORK=${WORK:-/tmp/alert-latency}
BIN=${BIN:-.build/release/pipeline-host}
[ -x "$BIN" ] || swift build -c release --product pipeline-host
echo "load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $RATE events/s for ${SECONDS_PER_RUN}s, $RUNS runs"
results=()
for run in $(seq "$RUNS"); do
  rm -rf "$WORK" && mkdir -p "$WORK"
  ports=()
  pids=()
  for service in kinesis sns; do
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 -m moto.server -H 127.0.0.1 -p "$PORT" > "$WORK/moto-$service.log" 2>&1 &
    pids+=($!)
    ports+=("$PORT")
  done
  trap 'kill -9 ${pids[*]} 2>/dev/null || true' EXIT
  for p in "${ports[@]}"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/moto-api/" > /dev/null && break; sleep 0.1; done
  done
  line=$(python3 bench/alert_latency.py "http://127.0.0.1:${ports[0]}" "http://127.0.0.1:${ports[1]}" "$BIN" "$WORK" \
    --rate "$RATE" --seconds "$SECONDS_PER_RUN")
  kill -9 "${pids[@]}" 2>/dev/null || true
  echo "run $run: $line"
  results+=("$line")
done
printf '%s\n' "${results[@]}" | python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin]
med = lambda k: statistics.median(r[k] for r in rows)
print('median of %d: p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms at %.0f events/s (%.0f alerts measured per run)' % (
    len(rows), med('p50_ms'), med('p99_ms'), med('p999_ms'), med('max_ms'), med('rate_per_s'), med('alerts_measured')))
"
