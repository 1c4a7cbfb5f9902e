#!/usr/bin/env bash
# Benchmark of issue 2: file source → passthrough → file sink on 1M events of about 250 bytes (release build).
# Prints events/s, MB/s and peak RSS per run and the median; in the same run, the C ceiling of reading and
# yajl-parsing the same file, for the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
EVENTS=${EVENTS:-1000000}
WORK=${WORK:-/tmp/fraud-bench}
mkdir -p "$WORK"
BIN=.build/release/pipeline-host
[ -x "$BIN" ] || swift build -c release --product pipeline-host
INPUT="$WORK/events-$EVENTS.jsonl"
[ -f "$INPUT" ] || python3 bench/gen_events.py "$EVENTS" "$INPUT"
BYTES=$(stat -c %s "$INPUT")
cat > "$WORK/passthrough.json" <<JSON
{"name": "bench-passthrough",
 "source": {"type": "file", "path": "$INPUT"},
 "transforms": [{"type": "passthrough"}],
 "sinks": [{"type": "file", "path": "$WORK/out.jsonl"}],
 "dead_letter": {"type": "file", "path": "$WORK/dlq.jsonl"},
 "checkpoint": {"dir": "$WORK/cp"}}
JSON
cc -O2 -o "$WORK/yajl_reference" bench/yajl_reference.c -lyajl
echo "input: $EVENTS events, $BYTES bytes ($((BYTES / EVENTS)) bytes/event); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "reference: C, read lines + yajl callback parse, no output"
python3 bench/measure.py --runs "$RUNS" --events "$EVENTS" --bytes "$BYTES" --label "yajl-c" -- "$WORK/yajl_reference" "$INPUT"
echo "pipeline-host: file → passthrough → file (fsync before acknowledge, checkpoint at the end)"
python3 bench/measure.py --runs "$RUNS" --events "$EVENTS" --bytes "$BYTES" --label "pipeline-host" \
  --setup "rm -rf $WORK/out.jsonl $WORK/cp $WORK/dlq.jsonl" -- "$BIN" run "$WORK/passthrough.json" --quiet
cmp -s <(wc -l < "$INPUT") <(wc -l < "$WORK/out.jsonl") && echo "output: all $EVENTS events written" || { echo "output line count differs" >&2; exit 1; }
