"""Drives bench/reload.sh: runs the host, sends SIGHUPs with alternating specs and samples its throughput."""
import json, os, signal, socket, statistics, subprocess, sys, time, urllib.request

binary, work, data, runs, reloads, root = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
events = sum(1 for _ in open(f"{data}/transactions.jsonl"))
v1, shallow = f"{root}/models/v1", f"{root}/Tests/Fixtures/models/shallow-d2"
# full: alternate a plain v1 scorer and an A/B split (scaler, scorer and the rolling aggregates' config change);
# weights: an A/B split whose weights change (only the scorer is rebuilt), the common rollout step.
kind = os.environ.get("RELOAD_KIND", "full")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spec(out, cp, port, variant):
    base = json.load(open(f"{root}/pipelines/local.json"))
    base["source"] = {"type": "file", "path": f"{data}/transactions.jsonl"}
    base["transforms"][0]["path"] = f"{data}/users.jsonl"
    scorer = {"type": "local_model", "id": "scorer", "bundle": v1, "variant": "v1"}
    if kind == "weights":
        base["transforms"][2] = {"type": "feature_scaler", "bundle": v1}
        base["transforms"][3] = {"type": "ab_split", "id": "scorer", "variants": [
            {"name": "a", "weight": 90 - variant, "scorer": {"type": "local_model", "bundle": v1}},
            {"name": "b", "weight": 10 + variant, "scorer": {"type": "local_model", "bundle": shallow}}]}
        variant = 0
    elif variant % 2 == 1:
        scorer = {"type": "ab_split", "id": "scorer", "variants": [
            {"name": "a", "weight": 1 + variant, "scorer": {"type": "local_model", "bundle": v1}},
            {"name": "b", "weight": 1, "scorer": {"type": "local_model", "bundle": shallow}}]}
    if kind != "weights":
        base["transforms"][2] = {"type": "feature_scaler", "bundle": v1 if variant % 2 == 0 else shallow}
        base["transforms"][3] = scorer
        base["transforms"][1]["allowed_lateness"] = f"{5 + variant}m"
    for s in base["sinks"]:
        s["path"] = s["path"].replace("${OUT:-out/local}", out)
    base["dead_letter"]["path"] = f"{out}/dead-letter.jsonl"
    base["checkpoint"] = {"dir": cp, "interval": "2s"}
    base["admin"] = {"address": f"127.0.0.1:{port}"}
    return base


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=1) as r:
        return json.load(r)["records_in"]


def run(with_reloads):
    out, cp = f"{work}/out", f"{work}/cp"
    subprocess.run(["rm", "-rf", out, cp], check=True)
    port = free_port()
    path = f"{work}/spec.json"
    json.dump(spec(out, cp, port, 0), open(path, "w"))
    log = open(f"{work}/host.log", "w")
    start = time.monotonic()
    host = subprocess.Popen([binary, "run", path, "--quiet"], stdout=log, stderr=log)
    samples, signals = [], []
    next_reload = None
    done = 0
    while host.poll() is None:
        try:
            samples.append((time.monotonic(), status(port)))
        except Exception:
            pass
        if samples and next_reload is None and samples[-1][1] > 0:
            next_reload = time.monotonic() + 1.5
        if with_reloads and next_reload and done < reloads and time.monotonic() >= next_reload:
            done += 1
            json.dump(spec(out, cp, port, done), open(path, "w"))
            signals.append(time.monotonic())
            host.send_signal(signal.SIGHUP)
            next_reload = time.monotonic() + 2.0
        time.sleep(0.05)
    wall = time.monotonic() - start
    if host.returncode != 0:
        sys.exit(f"host failed ({host.returncode}); see {work}/host.log")
    applied = [l for l in open(f"{work}/host.log") if '"reload applied"' in l]
    if with_reloads and len(applied) != done:
        sys.exit(f"{done} reloads asked, {len(applied)} applied; see {work}/host.log")
    # When each reload took effect: the host's own log time, mapped to this clock through the signal's wall time.
    return wall, samples, signals, applied


def rate(samples, a, b):
    inside = [(t, n) for t, n in samples if a <= t <= b]
    if len(inside) < 2 or inside[-1][0] == inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def applied_after(samples, t_signal, window=2.0):
    """The reload's pause: the longest gap between sample increments within `window` s of the signal."""
    inside = [(t, n) for t, n in samples if t_signal <= t <= t_signal + window]
    return inside


walls = {False: [], True: []}
before, during, after, pauses = [], [], [], []
for i in range(runs):
    for with_reloads in ((False, True) if i % 2 == 0 else (True, False)):
        wall, samples, signals, applied = run(with_reloads)
        walls[with_reloads].append(wall)
        line = f"  run {i + 1} {'with' if with_reloads else 'without'} reloads: wall {wall:6.2f} s, {events / wall:8.0f} events/s"
        if with_reloads:
            for ts in signals:
                b, d, a = rate(samples, ts - 1.0, ts), rate(samples, ts, ts + 0.5), rate(samples, ts + 0.5, ts + 1.5)
                if None not in (b, d, a):
                    before.append(b); during.append(d); after.append(a)
                # The longest stretch without any record admitted, in the 2 s after the signal.
                window = [(t, n) for t, n in samples if ts - 0.1 <= t <= ts + 2.0]
                longest, since = 0.0, None
                for (t0, n0), (t1, n1) in zip(window, window[1:]):
                    if n1 == n0:
                        since = since or t0
                        longest = max(longest, t1 - since)
                    else:
                        since = None
                pauses.append(longest)
            line += f", {len(applied)} reloads applied"
        print(line)
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"median whole run: without reloads {events / med(walls[False]):.0f} events/s, with {reloads} reloads {events / med(walls[True]):.0f} events/s"
      f" ({med(walls[False]) / med(walls[True]):.3f} of without)")
print(f"per reload (median of {len(before)}): before {med(before):.0f} records/s, during (0.5 s from the signal) {med(during):.0f} records/s, "
      f"after {med(after):.0f} records/s; longest stall of the input {1000 * med(pauses):.0f} ms (max {1000 * max(pauses, default=0):.0f} ms)")
