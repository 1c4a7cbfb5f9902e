#!/usr/bin/env bash
# Side-by-side benchmark of the host against Apache Flink on the same job and the same input: read transactions
# (JSON lines), inner-join each with its user's demographics, compute per-user rolling features in event time
# (count and exact sum over the earlier 1 h and 24 h, seconds since the previous event), write JSON lines.
#   Flink: ../shared/peers/flink/FraudFeaturesJob.java (DataStream API, local mini-cluster, parallelism 2).
#   Host:  .build/release/pipeline-host run bench/flink-job.json (release build).
# Input: 1,808,948 generated transactions of 80,000 users over 30 days (training/generate.py, sorted by event time,
# cached under $WORK/flinkjob). RUNS rounds (default 3), alternating which side goes first; per run and side:
# wall seconds, CPU seconds (user+sys) and peak RSS (/usr/bin/time), and first output latency (from process start
# until the output file, or for Flink any part file under its output dir, in-progress ones included, first holds a
# complete line; polled every 10 ms). Prints the medians, then checks the last output of both sides against an
# independent Python reference (bench/flink_reference.py) and fails when either differs.
#
# env: RUNS (3), WORK (/tmp/fraud-bench), PAR (Flink parallelism, 2), FLINK_VENV (/tmp/flinkvenv),
#      BIN (.build/release/pipeline-host), N_TX (1808948) and N_USERS (80000) for a smaller smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/fraud-bench}
PAR=${PAR:-2}
N_TX=${N_TX:-1808948}
N_USERS=${N_USERS:-80000}
BIN=${BIN:-.build/release/pipeline-host}
PEER=${FLINK_PEER:-$(cd .. && pwd)/shared/peers/flink}  # ../shared next to the checkout
VENV=${FLINK_VENV:-/tmp/flinkvenv}
JOB="$WORK/flinkjob"
DATA="$JOB/data-$N_TX-$N_USERS"
TX="$DATA/transactions.jsonl"
USERS="$DATA/users.jsonl"

# Input, generated once: into a temporary dir that is renamed when complete, so a cut-off run is not cached.
if [ ! -f "$TX" ]; then
  rm -rf "$DATA.tmp"
  python3 training/generate.py --users "$N_USERS" --transactions "$N_TX" --seed 23 --start-ts 1722470400 --days 30 \
    --out-dir "$DATA.tmp" --no-labels
  # Flink's job needs the input sorted by event time, ties in file order. generate.py writes it so; check, and
  # sort stably if it ever does not.
  python3 - "$DATA.tmp/transactions.jsonl" <<'PY'
import json, sys
path = sys.argv[1]
with open(path, encoding="utf-8") as fh:
    lines = fh.readlines()
ts = [json.loads(l)["event_created_at_ts"] for l in lines]
if any(a > b for a, b in zip(ts, ts[1:])):
    order = sorted(range(len(lines)), key=ts.__getitem__)  # stable: ties keep file order
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(lines[i] for i in order)
    print("sorted the input by event time (stable)")
PY
  mv "$DATA.tmp" "$DATA"
fi

if [ ! -x "$BIN" ]; then
  swift build -c release --product pipeline-host
fi
[ -x "$BIN" ] || { echo "no host binary at $BIN" >&2; exit 1; }

# Flink: one untimed run of the peer's own script on a small input installs PyFlink (only for its jars) when
# missing, compiles the job when stale, and warms the jars; the timed runs then start java exactly as that
# script does, so the first output poller sees the JVM's start.
head -n 2000 "$TX" > "$JOB/warmup.jsonl"
if ! warm=$("$PEER/run-flink-ds.sh" "$JOB/warmup.jsonl" "$USERS" "$JOB/warmup-out" "$PAR"); then
  echo "$warm" >&2
  exit 1
fi
echo "flink warm-up (2000 events): ${warm##*$'\n'}"
rm -rf "$JOB/warmup-out" "$JOB/warmup-out.log" "$JOB/warmup.jsonl"
PYFLINK=$("$VENV/bin/python" -c "import os, pyflink; print(os.path.dirname(pyflink.__file__))")
FLINK_JOPTS=$(grep -E '^\s+all: --add' "$PYFLINK/conf/config.yaml" | sed 's/^\s*all: //')
FLINK_CP="$VENV/peer-classes:$PYFLINK/lib/*"
export FLINK_JOPTS FLINK_CP

cat "$TX" "$USERS" > /dev/null  # page cache
EVENTS=$(wc -l < "$TX")
BYTES=$(stat -c %s "$TX")
echo "input: $EVENTS events of $(wc -l < "$USERS") users, $BYTES bytes; $RUNS runs per side; flink parallelism $PAR;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; host $BIN ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"

python3 - "$RUNS" "$EVENTS" "$TX" "$USERS" "$JOB" "$PAR" "$BIN" <<'PY'
import os, shlex, statistics, subprocess, sys, threading, time

runs, events = int(sys.argv[1]), int(sys.argv[2])
tx, users, job, par, binary = sys.argv[3:8]
FMT = "TIME %e %U %S %M"


def has_line(path):
    """True when the file holds a complete line (a newline in its first 64 KiB)."""
    try:
        with open(path, "rb") as fh:
            return b"\n" in fh.read(65536)
    except OSError:
        return False


def any_line(root):
    for dirpath, _, names in os.walk(root):
        for n in names:
            if has_line(os.path.join(dirpath, n)):
                return True
    return False


def run(side, cmd, env, check_output, log):
    """Runs cmd under /usr/bin/time; returns wall s, CPU s, peak RSS MB, first output s (from just before spawn)."""
    timefile = log + ".time"
    full = ["/usr/bin/time", "-o", timefile, "-f", FMT] + cmd
    first = []
    done = threading.Event()
    with open(log, "w") as out:
        t0 = time.monotonic()
        env = dict(env, BENCH_T0=f"{time.time():.6f}")  # the Flink job's own first-output clock, for comparison
        p = subprocess.Popen(full, env=env, stdout=out, stderr=subprocess.STDOUT)

        def poll():
            while not done.is_set():
                if check_output():
                    first.append(time.monotonic() - t0)
                    return
                time.sleep(0.01)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        rc = p.wait()
        wall = time.monotonic() - t0
        done.set()
        th.join()
    if rc != 0:
        sys.stdout.write(open(log).read()[-3000:])
        sys.exit(f"{side}: exit status {rc}: {' '.join(shlex.quote(c) for c in cmd)}")
    line = [l for l in open(timefile) if l.startswith("TIME ")][-1].split()
    cpu = float(line[2]) + float(line[3])
    rss = int(line[4]) / 1024.0
    return wall, cpu, rss, (first[0] if first else float("nan"))


def flink(i):
    out = os.path.join(job, "flink-out")
    subprocess.run(["rm", "-rf", out], check=True)
    cmd = ["java"] + shlex.split(os.environ["FLINK_JOPTS"]) + ["-cp", os.environ["FLINK_CP"],
                                                               "peer.FraudFeaturesJob", tx, users, out, par]
    r = run("flink", cmd, os.environ, lambda: any_line(out), out + ".log")
    res = [l.strip() for l in open(out + ".log") if l.startswith("RESULT")]
    own = {k: v for k, v in (kv.split("=", 1) for kv in res[-1].split()[1:])} if res else {}
    return r, f"(job: first_output_s={own.get('first_output_s', '?')} net_runtime_s={own.get('job_net_runtime_s', '?')})"


def host(i):
    out, cp = os.path.join(job, "host-out"), os.path.join(job, "host-cp")
    subprocess.run(["rm", "-rf", out, cp], check=True)
    env = dict(os.environ, INPUT=tx, USERS=users, OUT=out, CHECKPOINT_DIR=cp)
    feats = os.path.join(out, "features.jsonl")
    r = run("host", [binary, "run", "bench/flink-job.json", "--quiet"], env, lambda: has_line(feats),
            os.path.join(job, "host-out.log"))
    return r, ""


results = {"flink": [], "host": []}
sides = {"flink": flink, "host": host}
for i in range(runs):
    for side in (("flink", "host") if i % 2 == 0 else ("host", "flink")):
        (wall, cpu, rss, first), note = sides[side](i)
        results[side].append((wall, cpu, rss, first))
        print(f"  run {i + 1} {side:5}: wall {wall:7.2f} s  cpu {cpu:7.2f} s  {cpu / events * 1e6:6.2f} µs/event  "
              f"peak RSS {rss:7.1f} MB  first output {first:6.2f} s  {note}".rstrip(), flush=True)

med = {s: [statistics.median(x[k] for x in results[s]) for k in range(4)] for s in results}
print(f"\nmedians of {runs} runs, {events} events:")
print(f"  {'':22} {'wall s':>8} {'CPU s':>8} {'CPU µs/event':>13} {'peak RSS MB':>12} {'first output s':>15}")
for s, label in (("flink", f"Flink DataStream p{par}"), ("host", "pipeline-host")):
    w, c, r, f = med[s]
    print(f"  {label:22} {w:8.2f} {c:8.2f} {c / events * 1e6:13.2f} {r:12.1f} {f:15.2f}")
print(f"  Flink wall / host wall = {med['flink'][0] / med['host'][0]:.2f}   "
      f"Flink CPU / host CPU = {med['flink'][1] / med['host'][1]:.2f}   "
      f"(load after: {' '.join(open('/proc/loadavg').read().split()[:3])})")
PY

DL="$JOB/host-out/dead-letter.jsonl"
if [ -s "$DL" ]; then
  echo "host dead-lettered $(wc -l < "$DL") records, e.g.: $(head -c 300 "$DL")"
fi
echo "verifying the last outputs against bench/flink_reference.py:"
python3 bench/flink_reference.py --transactions "$TX" --users "$USERS" "$JOB/host-out/features.jsonl" "$JOB/flink-out"
