#!/usr/bin/env bash
# Two pipeline-host binaries on the same spec and input, run at the same time, each pinned to a core of its own
# (taskset), swapping cores every round: the machine's speed phases (up to 1.5x for minutes on this shared host)
# then move both alike, where runs one after the other (bench/ab-binaries.sh) drift apart. Prints each round's
# wall times and the new binary's throughput relative to the old one's, and the median. One core each: it
# measures the work, not the use of both cores.
# usage: bench/ab-pinned.sh OLD_BINARY NEW_BINARY SPEC   (the spec's ${VARS} come from the environment; OUT and
#        CHECKPOINT_DIR are set per side under $WORK, default /dev/shm/fraud-bench-pinned)   env: RUNS (6)
set -euo pipefail
OLD=$1 NEW=$2 SPEC=$3
RUNS=${RUNS:-6}
WORK=${WORK:-/dev/shm/fraud-bench-pinned}
command -v taskset >/dev/null || { echo "taskset is needed" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "two cores are needed" >&2; exit 1; }
mkdir -p "$WORK"
echo "spec $SPEC, $RUNS rounds side by side; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
python3 - "$(dirname "$0")" "$OLD" "$NEW" "$SPEC" "$RUNS" "$WORK" <<'PY'
import statistics, sys
sys.path.insert(0, sys.argv[1])
import pipeline_runs
old, new, spec, rounds, work = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
ratios = []
for i in range(rounds):
    cores = {"old": i % 2, "new": 1 - i % 2}
    runs = {side: pipeline_runs.start(binary, spec, f"{work}/{side}-out", f"{work}/{side}-out/cp",
                                      prefix=("taskset", "-c", str(cores[side])))
            for side, binary in (("old", old), ("new", new))}
    wall = {side: r[0] for side, r in pipeline_runs.wait(runs).items()}
    ratios.append(wall["old"] / wall["new"])
    print(f"  round {i + 1}: old (core {cores['old']}) {wall['old']:6.2f} s, new (core {cores['new']}) {wall['new']:6.2f} s, "
          f"new throughput {ratios[-1]:.3f}x", flush=True)
print(f"median: new throughput {statistics.median(ratios):.3f}x of old (range {min(ratios):.3f}-{max(ratios):.3f})")
PY
