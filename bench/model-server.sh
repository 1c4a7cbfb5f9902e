#!/usr/bin/env bash
# Load benchmark of model-server: req/s and p50/p99 latency at 32 connections for the original curl body,
# the model evaluated on every request. wrk (Debian's `wrk` package) with bench/post.lua, against 127.0.0.1 only.
#
#   bench/model-server.sh [--bin PATH] [--runs N] [--duration 15s] [--connections 32] [--threads 2] [--pin]
#                         [--with-fastapi [--python PATH]]
#
#   --bin           model-server binary (default .build/release/model-server; build it with
#                   `swift build -c release --product model-server`)
#   --pin           server on CPU 1, wrk on CPU 0 (taskset): steadier numbers on a 2-core machine
#   --with-fastapi  also measure the original FastAPI + uvicorn + xgboost service (bench/reference) in the same
#                   run, and print the ratio. --python: an interpreter with bench/reference/requirements.txt
#                   installed (default: $FASTAPI_PYTHON, else python3)
#
# Each run is preceded by a 3 s warm-up; the summary is the median of the runs. Every server this script
# starts is stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.build/release/model-server
MODEL_DIR=models/v1
RUNS=3
DURATION=15s
CONNECTIONS=32
THREADS=2
PIN=0
WITH_FASTAPI=0
PYTHON=${FASTAPI_PYTHON:-python3}
PORT=18080
FASTAPI_PORT=18081
EXPECTED='"fraud_score":0.263380229473114'

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=$2; shift 2 ;;
        --model-dir) MODEL_DIR=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --pin) PIN=1; shift ;;
        --with-fastapi) WITH_FASTAPI=1; shift ;;
        --python) PYTHON=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is not installed: apt-get install -y curl" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no model-server binary at $BIN: swift build -c release --product model-server" >&2; exit 2; }

SERVER_CPU=() WRK_CPU=()
if [ "$PIN" = 1 ]; then SERVER_CPU=(taskset -c 1) WRK_CPU=(taskset -c 0); fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

BODY=$(sed -n "s/^wrk.body = '\(.*\)' ..$/\1/p; s/^ *'\(.*\)'$/\1/p" bench/post.lua | tr -d '\n')

wait_ready() { # url
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/ping" || true)" = 200 ] && return 0
        sleep 0.1
    done
    echo "server at $1 did not become ready" >&2
    exit 1
}

check_score() { # url
    local reply
    reply=$(curl -s -X POST "$1/invocations" -H 'Content-Type: application/json' -d "$BODY")
    echo "  reply: $reply"
    case "$reply" in
        *"$EXPECTED"*) ;;
        *"0.26338"*) echo "  (score agrees to float32 precision)" ;;
        *) echo "unexpected reply from $1" >&2; exit 1 ;;
    esac
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

measure() { # name url -> prints per-run lines and a summary; sets RPS_MEDIAN
    local name=$1 url=$2 out
    echo "== $name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $RUNS runs"
    "${WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s bench/post.lua "$url/invocations" >/dev/null
    : > "/tmp/bench-$name.txt"
    for i in $(seq 1 "$RUNS"); do
        out=$("${WRK_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post.lua "$url/invocations" | grep '^BENCH')
        echo "  run $i: ${out#BENCH }"
        echo "$out" >> "/tmp/bench-$name.txt"
    done
    RPS_MEDIAN=$(sed 's/.* rps=\([0-9.]*\).*/\1/' "/tmp/bench-$name.txt" | median)
    local p50 p99 errs
    p50=$(sed 's/.* p50_ms=\([0-9.]*\).*/\1/' "/tmp/bench-$name.txt" | median)
    p99=$(sed 's/.* p99_ms=\([0-9.]*\).*/\1/' "/tmp/bench-$name.txt" | median)
    errs=$(sed 's/.* errors=\([0-9]*\).*/\1/' "/tmp/bench-$name.txt" | awk '{s+=$1} END {print s}')
    echo "  median: ${RPS_MEDIAN} req/s, p50 ${p50} ms, p99 ${p99} ms (errors over all runs: $errs)"
    echo "SUMMARY $name rps=$RPS_MEDIAN p50_ms=$p50 p99_ms=$p99 errors=$errs"
}

echo "machine: $(nproc) cores, $(uname -r); pinning: $([ "$PIN" = 1 ] && echo 'server cpu1, wrk cpu0' || echo none)"

"${SERVER_CPU[@]}" "$BIN" serve --host 127.0.0.1 --port "$PORT" --model-dir "$MODEL_DIR" --log-level warning &
PIDS+=($!)
wait_ready "http://127.0.0.1:$PORT"
check_score "http://127.0.0.1:$PORT"
measure model-server "http://127.0.0.1:$PORT"
SWIFT_RPS=$RPS_MEDIAN
kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

if [ "$WITH_FASTAPI" = 1 ]; then
    "$PYTHON" -c 'import fastapi, uvicorn, xgboost' 2>/dev/null || {
        echo "$PYTHON lacks fastapi/uvicorn/xgboost: pip install -r bench/reference/requirements.txt" >&2; exit 2; }
    MODEL_DIR="$MODEL_DIR" "${SERVER_CPU[@]}" "$PYTHON" -m uvicorn fastapi_app:app --app-dir bench/reference \
        --host 127.0.0.1 --port "$FASTAPI_PORT" --log-level warning --no-access-log &
    PIDS+=($!)
    wait_ready "http://127.0.0.1:$FASTAPI_PORT"
    check_score "http://127.0.0.1:$FASTAPI_PORT"
    measure fastapi "http://127.0.0.1:$FASTAPI_PORT"
    echo "model-server / FastAPI: $(awk -v a="$SWIFT_RPS" -v b="$RPS_MEDIAN" 'BEGIN {printf "%.1fx", a / b}') the requests per second"
fi
