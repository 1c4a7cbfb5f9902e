#!/usr/bin/env bash
# Kinesis consumer benchmark (issue 3): records/s reading a whole stream from moto_server, boto3 vs pipeline-host.
#
# Starts moto, fills a stream (SHARDS shards, RECORDS records) with boto3, then REPS times, alternating:
#   (a) bench/kinesis_consumer.py consume: boto3, one thread per shard, GetRecords Limit 10000, ≥200 ms per shard;
#   (b) pipeline-host run: kinesis (stop_at_end, max_records_per_call 10000) → file, checkpoint at the end.
# Prints each run, the medians and the ratio (b)/(a). moto is the bottleneck for both (it serves ~11-18k
# records/s to boto3): this compares consumers against the same server, not against real Kinesis.
# Signing cost: bench/signing.sh.
#
# Assumes a release build at .build/release/pipeline-host with the kinesis source registered
# (swift build -c release --product pipeline-host), python3 with boto3 and moto[server]==5.2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARDS=${SHARDS:-4}
RECORDS=${RECORDS:-20000}
REPS=${REPS:-3}
WORK=${WORK:-/tmp/kinesis-bench}
BIN=${BIN:-.build/release/pipeline-host}
[ -x "$BIN" ] || { echo "no $BIN: build it first (swift build -c release --product pipeline-host)" >&2; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ENDPOINT="http://127.0.0.1:$PORT"
python3 -m moto.server -H 127.0.0.1 -p "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill -9 $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$ENDPOINT/moto-api/" > /dev/null && break; sleep 0.1; done

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
STREAM=bench
t0=$(date +%s.%N)
python3 bench/kinesis_consumer.py fill "$ENDPOINT" "$STREAM" "$SHARDS" "$RECORDS"
echo "filled $STREAM: $SHARDS shards, $RECORDS records in $(echo "$(date +%s.%N) - $t0" | bc) s; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

cat > "$WORK/spec.json" <<JSON
{"name": "bench-kinesis",
 "source": {"type": "kinesis", "stream_name": "$STREAM", "endpoint_url": "$ENDPOINT", "stop_at_end": true, "max_records_per_call": 10000},
 "sinks": [{"type": "file", "path": "$WORK/out.jsonl"}],
 "dead_letter": {"type": "file", "path": "$WORK/dlq.jsonl"},
 "checkpoint": {"dir": "$WORK/cp"}}
JSON

boto=() host=()
for rep in $(seq "$REPS"); do
  read -r n secs < <(python3 bench/kinesis_consumer.py consume "$ENDPOINT" "$STREAM")
  [ "$n" = "$RECORDS" ] || { echo "boto3 read $n records, expected $RECORDS" >&2; exit 1; }
  rate=$(echo "$RECORDS / $secs" | bc -l); boto+=("$rate")
  printf 'run %d  boto3         %8.3f s  %10.0f records/s\n' "$rep" "$secs" "$rate"

  rm -rf "$WORK/out.jsonl" "$WORK/cp" "$WORK/dlq.jsonl"
  start=$(date +%s.%N)
  "$BIN" run "$WORK/spec.json" --quiet > /dev/null
  secs=$(echo "$(date +%s.%N) - $start" | bc -l)
  n=$(wc -l < "$WORK/out.jsonl")
  [ "$n" = "$RECORDS" ] || { echo "pipeline-host wrote $n records, expected $RECORDS" >&2; exit 1; }
  rate=$(echo "$RECORDS / $secs" | bc -l); host+=("$rate")
  printf 'run %d  pipeline-host %8.3f s  %10.0f records/s\n' "$rep" "$secs" "$rate"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mb=$(median "${boto[@]}"); mh=$(median "${host[@]}")
printf 'median  boto3 %.0f records/s, pipeline-host %.0f records/s (process start, spec check and final checkpoint included), ratio %.2f\n' \
  "$mb" "$mh" "$(echo "$mh / $mb" | bc -l)"

