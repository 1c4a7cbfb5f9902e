#!/usr/bin/env bash
# Where the CPU goes, stage by stage (issue 14): `pipeline-host run --profile` on the staging pipeline
# (pipelines/local.json, the 1M generated transactions of bench/common.sh) and on Flink's job (bench/flink-job.json,
# the same input), RUNS rounds each (default 3). Prints each stage's median CPU µs per record, the rest of the
# process (the source's reading and parsing, routing, the runtime) and the whole process per record in, and each one's share of the process's CPU.
# Release build. The stage meters count a batch's CPU on its thread (docs/observability.md); the medians hide
# the machine's drift between rounds only partly, so read the shares as much as the absolute numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
. bench/common.sh
bench_data full
mkdir -p "$WORK/profile"
echo "load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $(wc -l < "$DATA/transactions.jsonl") events, $RUNS rounds"
python3 - "$BIN" "$WORK/profile" "$DATA" "$RUNS" <<'PY'
import os, re, statistics, subprocess, sys
binary, work, data, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
row = re.compile(r"^  (\S+)\s+(\S+)\s+(\d+)\s+([\d.]+)\s+\(([\d.]+) s\)$")
tail = re.compile(r"^  (rest of the process|whole process)[^\d]*([\d.]+)\s+\(([\d.]+) s\)$")
for spec in ("pipelines/local.json", "bench/flink-job.json"):
    per, secs = {}, {}
    order = []
    for i in range(runs):
        out, cp = f"{work}/out", f"{work}/cp"
        subprocess.run(["rm", "-rf", out, cp], check=True)
        env = dict(os.environ, INPUT=f"{data}/transactions.jsonl", USERS=f"{data}/users.jsonl", OUT=out, CHECKPOINT_DIR=cp)
        text = subprocess.run([binary, "run", spec, "--quiet", "--profile"], env=env, check=True, capture_output=True, text=True).stdout
        for line in text.splitlines():
            m = row.match(line)
            if m:
                key = f"{m.group(1)} ({m.group(2)})"
                per.setdefault(key, []).append(float(m.group(4)))
                secs.setdefault(key, []).append(float(m.group(5)))
            else:
                m = tail.match(line)
                if not m:
                    continue
                key = m.group(1)
                per.setdefault(key, []).append(float(m.group(2)))
                secs.setdefault(key, []).append(float(m.group(3)))
            if key not in order:
                order.append(key)
    print(f"\n{spec}: CPU µs per record the stage handled, median of {runs}; its share of the process's CPU")
    for key in order:
        share = statistics.median(s / w for s, w in zip(secs[key], secs["whole process"]))
        print(f"  {key:<44} {statistics.median(per[key]):6.2f}  {share:6.1%}")
PY
