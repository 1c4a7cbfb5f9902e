# Sourced by the benchmarks that run the staging pipeline: the release binary and the generated month of 1M
# transactions of 20,000 users (seed 11), made once and shared in $WORK. Sets BIN, WORK and DATA.
# bench_data full   → $WORK/full, without labels;   bench_data labeled → $WORK/labeled, with labels.
WORK=${WORK:-/tmp/fraud-bench}
BIN=${BIN:-.build/release/pipeline-host}
[ -x "$BIN" ] || swift build -c release --product pipeline-host

bench_data() {
  DATA="$WORK/$1"
  local labels=()
  [ "$1" = labeled ] || labels=(--no-labels)
  [ -f "$DATA/transactions.jsonl" ] || python3 training/generate.py --users 20000 --transactions 1000000 --seed 11 \
    --start-ts 1722470400 --days 30 --out-dir "$DATA" "${labels[@]}"
}
