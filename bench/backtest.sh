#!/usr/bin/env bash
# The backtest's speed (issue 18): `pipeline-host backtest` over 1M generated labeled transactions through
# pipelines/local.json with two bundles (models/v1 and the shallow challenger fixture), 1,000 bootstrap
# resamples; RUNS rounds (default 3), next to `pipeline-host run` of the same spec on the same input (the
# feature stages and one scorer, no evaluation). Wall seconds and events/s per run, and the medians. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
. bench/common.sh
bench_data labeled
echo "load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $(wc -l < "$DATA/transactions.jsonl") events, $RUNS rounds"
python3 - "$BIN" "$WORK" "$DATA" "$RUNS" <<'PY'
import os, statistics, subprocess, sys, time
binary, work, data, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
events = sum(1 for _ in open(f"{data}/transactions.jsonl"))
env = dict(os.environ, INPUT=f"{data}/transactions.jsonl", USERS=f"{data}/users.jsonl",
           OUT=f"{work}/backtest-run", CHECKPOINT_DIR=f"{work}/backtest-run/cp")
commands = {
    "backtest": [binary, "backtest", "pipelines/local.json", "--input", f"{data}/transactions.jsonl",
                 "--bundle", "models/v1", "--bundle", "shallow=Tests/Fixtures/models/shallow-d2", "--out", f"{work}/backtest-out"],
    "run": [binary, "run", "pipelines/local.json", "--quiet"],
}
res = {k: [] for k in commands}
for i in range(runs):
    for name in (commands if i % 2 == 0 else reversed(list(commands))):
        subprocess.run(["rm", "-rf", f"{work}/backtest-run", f"{work}/backtest-out"], check=True)
        start = time.monotonic()
        p = subprocess.run(commands[name], env=env, capture_output=True, text=True)
        wall = time.monotonic() - start
        if p.returncode != 0:
            sys.exit(f"{name} failed: {p.stderr[-2000:]}")
        res[name].append(wall)
        print(f"  run {i + 1} {name:8s}: {wall:6.2f} s  {events / wall:9.0f} events/s")
        if name == "backtest":
            print("    " + "\n    ".join(p.stdout.strip().splitlines()[:4]))
for name, walls in res.items():
    m = statistics.median(walls)
    print(f"median {name:8s}: {m:.2f} s ({events / m:.0f} events/s)")
PY
