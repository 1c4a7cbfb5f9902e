#!/usr/bin/env bash
# One binary, one spec, several values of runtime.parallelism (the keyed stages' workers), alternating the order
# each round: wall, CPU (user+sys) and peak RSS per run, the medians, and a check that every count wrote the same
# bytes as the first (workers keep the batch's order, so the output must not change).
# usage: bench/parallelism.sh SPEC [COUNTS]   (COUNTS default "1 2"; the spec's ${VARS} come from the environment;
#        OUT and CHECKPOINT_DIR are set per run under $WORK, default /dev/shm/fraud-bench-par)
# env: RUNS (5), BIN (.build/release/pipeline-host)
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC=$1
COUNTS=${2:-1 2}
RUNS=${RUNS:-5}
WORK=${WORK:-/dev/shm/fraud-bench-par}
BIN=${BIN:-.build/release/pipeline-host}
mkdir -p "$WORK"
echo "spec $SPEC, parallelism $COUNTS, $RUNS rounds; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
python3 - "$BIN" "$SPEC" "$RUNS" "$WORK" $COUNTS <<'PY'
import json, sys
sys.path.insert(0, "bench")  # the script has cd'd to the repository
import pipeline_runs
binary, spec, runs, work, counts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], [int(c) for c in sys.argv[5:]]
base = json.load(open(spec))
specs = {}
for c in counts:
    s = dict(base)
    s["runtime"] = dict(base.get("runtime", {}), parallelism=c)
    path = f"{work}/spec-p{c}.json"
    json.dump(s, open(path, "w"))
    specs[c] = path
res = {c: [] for c in counts}
for i in range(runs):
    order = counts if i % 2 == 0 else list(reversed(counts))
    for c in order:
        r = pipeline_runs.run(f"parallelism {c}", binary, specs[c], f"{work}/p{c}-out", f"{work}/p{c}-cp")
        res[c].append(r)
        print(f"  run {i + 1} parallelism {c}: wall {r[0]:6.2f} s  cpu {r[1]:6.2f} s  peak RSS {r[2]:6.1f} MiB", flush=True)
med = {c: pipeline_runs.medians(v) for c, v in res.items()}
for c in counts:
    print(f"median parallelism {c}: wall {med[c][0]:.2f} s  cpu {med[c][1]:.2f} s  peak RSS {med[c][2]:.1f} MiB"
          f"  ({med[counts[0]][0] / med[c][0]:.2f}x the wall of {counts[0]})")
first = f"{work}/p{counts[0]}-out"
for c in counts[1:]:
    for name, same in pipeline_runs.compare_outputs(first, f"{work}/p{c}-out"):
        print(f"parallelism {c}: {name} {'identical' if same else 'DIFFERS'}")
        if not same:
            sys.exit(1)
PY
