#!/usr/bin/env bash
# Two pipeline-host binaries on the same spec and input, alternating which goes first, RUNS rounds (default 3):
# wall, CPU (user+sys) and peak RSS per run, then the medians. For before/after measurements of one change.
# usage: bench/ab-binaries.sh OLD_BINARY NEW_BINARY SPEC   (the spec's ${VARS} come from the environment;
#        OUT and CHECKPOINT_DIR are set per run under $WORK, default /tmp/fraud-bench/ab)
set -euo pipefail
OLD=$1 NEW=$2 SPEC=$3
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/fraud-bench/ab}
mkdir -p "$WORK"
echo "spec $SPEC, $RUNS rounds; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
python3 - "$(dirname "$0")" "$OLD" "$NEW" "$SPEC" "$RUNS" "$WORK" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import pipeline_runs
old, new, spec, runs, work = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
res = {"old": [], "new": []}
for i in range(runs):
    for side in (("old", "new") if i % 2 == 0 else ("new", "old")):
        binary = old if side == "old" else new
        r = pipeline_runs.run(side, binary, spec, f"{work}/{side}-out", f"{work}/{side}-cp")
        res[side].append(r)
        print(f"  run {i + 1} {side}: wall {r[0]:6.2f} s  cpu {r[1]:6.2f} s  peak RSS {r[2]:6.1f} MiB", flush=True)
med = {k: pipeline_runs.medians(v) for k, v in res.items()}
for k in ("old", "new"):
    print(f"median {k}: wall {med[k][0]:.2f} s  cpu {med[k][1]:.2f} s  peak RSS {med[k][2]:.1f} MiB")
print(f"old/new: wall {med['old'][0] / med['new'][0]:.2f}x  cpu {med['old'][1] / med['new'][1]:.2f}x")
PY
