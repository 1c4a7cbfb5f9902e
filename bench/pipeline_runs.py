"""Timed pipeline-host runs for bench/ab-binaries.sh, bench/ab-pinned.sh, bench/parallelism.sh and bench/explain-cost.sh.

One run: `[PREFIX...] BINARY run SPEC --quiet` with OUT and CHECKPOINT_DIR set (both removed first), its output
discarded; measured from the wait4 of its own process: wall seconds, user+sys CPU seconds, peak RSS in MiB.
"""
import os
import random
import statistics
import subprocess
import sys
import time


def start(binary, spec, out, checkpoint_dir, prefix=()):
    """Starts one run; returns a handle for wait(). A prefix (e.g. taskset) must exec the binary in its place."""
    subprocess.run(["rm", "-rf", out, checkpoint_dir], check=True)
    argv = [*prefix, binary, "run", spec, "--quiet"]
    env = dict(os.environ, OUT=out, CHECKPOINT_DIR=checkpoint_dir)
    began = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid, began


def wait(handles):
    """Waits for every run of {key: handle}; returns {key: (wall s, cpu s, peak RSS MiB)}, or exits if one failed.
    Reaps whichever run ends first, so a run's wall stops at its own exit even while another still runs."""
    pending = {pid: (key, began) for key, (pid, began) in handles.items()}
    results, failed = {}, []
    while pending:
        pid, status, usage = os.wait4(-1, 0)
        ended = time.monotonic()
        if pid not in pending:
            continue
        key, began = pending.pop(pid)
        if status != 0:
            failed.append(f"{key} run failed ({os.waitstatus_to_exitcode(status)})")
        results[key] = (ended - began, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # ru_maxrss: KiB
    if failed:
        sys.exit("; ".join(failed))
    return results


def run(label, binary, spec, out, checkpoint_dir):
    """One run on its own: (wall s, cpu s, peak RSS MiB); the label names it if it fails."""
    return wait({label: start(binary, spec, out, checkpoint_dir)})[label]


def medians(runs):
    """Per-field medians of a list of (wall, cpu, rss)."""
    return [statistics.median(r[j] for r in runs) for j in range(3)]


def median_interval(values, resamples=2000, seed=1):
    """(median, low, high): the median of `values` and a 95 % bootstrap interval for it (percentile method, a
    fixed seed so a rerun on the same numbers prints the same interval)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return statistics.median(values), meds[int(0.025 * resamples)], meds[int(0.975 * resamples) - 1]


def same_bytes(a, b):
    """Like `cmp -s`: False also when either is missing or not a regular file."""
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def compare_outputs(first, other):
    """[(name, identical)] for each file of directory `first` against the same name in `other`."""
    return [(name, same_bytes(f"{first}/{name}", f"{other}/{name}")) for name in sorted(os.listdir(first))]
