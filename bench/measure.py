#!/usr/bin/env python3
"""Runs a command several times and reports wall time, events/s, MB/s and peak RSS (median of the runs).

usage: measure.py --runs N --events E --bytes B [--setup CMD] -- COMMAND...
The setup command (e.g. removing the previous output and checkpoint) runs before every run, untimed.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def run_once(cmd):
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit(f"command failed with status {status}: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0  # MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--bytes", type=int, required=True)
    ap.add_argument("--setup", default="")
    ap.add_argument("--label", default="")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    walls, rss = [], []
    for i in range(a.runs):
        if a.setup:
            subprocess.run(a.setup, shell=True, check=True)
        w, r = run_once(cmd)
        walls.append(w)
        rss.append(r)
        print(f"  run {i + 1}: {w:.3f} s  {a.events / w:,.0f} events/s  {a.bytes / w / 1e6:.1f} MB/s  peak RSS {r:.1f} MiB", flush=True)
    w = statistics.median(walls)
    print(f"{a.label} median of {a.runs}: {w:.3f} s  {a.events / w:,.0f} events/s  {a.bytes / w / 1e6:.1f} MB/s  "
          f"peak RSS {statistics.median(rss):.1f} MiB")


if __name__ == "__main__":
    main()
