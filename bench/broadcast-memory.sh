#!/usr/bin/env bash
# Issue 6: peak RSS of the host with a 1,000,000-user reference table (dynamo_broadcast, file mode), against the
# same host with no table, in the same run. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/fraud-bench/broadcast}
BIN=.build/release/pipeline-host
[ -x "$BIN" ] || swift build -c release --product pipeline-host
mkdir -p "$WORK"
[ -f "$WORK/users.jsonl" ] || python3 - "$WORK/users.jsonl" <<'PY'
import random, sys
r = random.Random(5)
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        f.write('{"user_id": "u%07d", "age": %d, "gender_code": %d, "location": %d, "subscription_type_code": %d, '
                '"tenure_months": %d, "income_bracket_code": %d}\n' % (i, r.randrange(18, 90), r.randrange(3),
                r.randrange(50), r.randrange(4), r.randrange(240), r.randrange(5)))
PY
echo '{"user_id": "u0000042"}' > "$WORK/in.jsonl"
spec() {
  cat <<JSON
{"name": "mem-$1", "source": {"type": "file", "path": "$WORK/in.jsonl"}, "transforms": [$2],
 "sinks": [{"type": "file", "path": "$WORK/out-$1.jsonl"}], "dead_letter": {"type": "file", "path": "$WORK/dlq-$1.jsonl"},
 "checkpoint": {"dir": "$WORK/cp-$1"}}
JSON
}
spec none '{"type": "passthrough"}' > "$WORK/none.json"
spec table '{"type": "dynamo_broadcast", "mode": "file", "path": "'"$WORK"'/users.jsonl", "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"]}' > "$WORK/table.json"
for s in none table; do
  for run in 1 2 3; do
    rm -rf "$WORK/cp-$s" "$WORK/out-$s.jsonl"
    /usr/bin/time -f "$s run $run: peak RSS %M KiB, %e s" "$BIN" run "$WORK/$s.json" --quiet 2>&1 >/dev/null | grep "peak RSS"
  done
done
cat "$WORK/out-table.jsonl"
