#!/usr/bin/env python3
"""Independent reference for bench/flink-job.sh: per-user rolling features plus the demographics join, computed
in plain Python from the input files, compared with the outputs of the host and of the Flink peer.

usage: flink_reference.py --transactions TX.jsonl --users USERS.jsonl OUTPUT [OUTPUT ...]

Definitions (../shared/peers/flink/README.md): for event e of user u, P(e) = u's events strictly before e in
(event time, file order); cnt/sum over p in P(e) with ts_p > ts_e - W for W = 3600 and 86400 (an event exactly W
earlier is out), sums in integer cents; secs_since_prev = ts_e - ts of u's latest earlier event, null for u's first
event. Inner join on user_id: rows of users missing from the users file are not expected in the output.

An OUTPUT is a JSONL file or a directory whose files (recursively, hidden in-progress part files included) are
JSONL. Field names are recognised per row: the host's (txn_count_1h, txn_sum_1h, txn_count_24h, txn_sum_24h,
secs_since_prev_txn) or Flink's (cnt_1h, sum_1h, cnt_24h, sum_24h, secs_since_prev). Rows are matched by
transaction_id: each expected row must appear exactly once with the input fields, the six demographic fields and
the five features equal (sums compared in cents: round(x * 100)). Prints one summary line per output and exits 1
on any difference.
"""
import argparse
import collections
import json
import os
import sys
import time
from array import array

DEMO = ("age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code")
HOST_NAMES = ("txn_count_1h", "txn_sum_1h", "txn_count_24h", "txn_sum_24h", "secs_since_prev_txn")
FLINK_NAMES = ("cnt_1h", "sum_1h", "cnt_24h", "sum_24h", "secs_since_prev")
W1, W24 = 3600, 86400
MAX_SHOWN = 5


def cents(x):
    """Money as integer cents; None for anything that is not a number."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return round(x * 100)


class Reference:
    """Expected rows, indexed by transaction_id, held in flat arrays (1.8M rows fit in a few hundred MB)."""

    def __init__(self, tx_path, users_path):
        self.users = {}
        with open(users_path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    u = json.loads(line)
                    self.users[u["user_id"]] = tuple(u[f] for f in DEMO)

        ids, user, ts, value_cents, channel = [], [], array("q"), array("q"), array("q")
        with open(tx_path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                t = json.loads(line)
                ids.append(t["transaction_id"])
                user.append(sys.intern(t["user_id"]))
                ts.append(t["event_created_at_ts"])
                value_cents.append(round(t["transaction_value"] * 100))
                channel.append(t["channel_code"])
        n = len(ids)
        # (event time, file order): a stable sort by time; identity when the file is sorted, as it should be.
        self.sorted_input = all(ts[i] <= ts[i + 1] for i in range(n - 1))
        order = range(n) if self.sorted_input else sorted(range(n), key=ts.__getitem__)

        c1, s1, c24, s24, ssp = (array("q", bytes(8 * n)) for _ in range(5))
        state = {}  # user -> [deque of (ts, cents) in 24 h, sum 24 h, deque in 1 h, sum 1 h, last ts]
        for i in order:
            u, t, c = user[i], ts[i], value_cents[i]
            st = state.get(u)
            if st is None:
                st = state[u] = [collections.deque(), 0, collections.deque(), 0, None]
                ssp[i] = -1  # null
            else:
                ssp[i] = t - st[4]
            d24, d1 = st[0], st[2]
            lim = t - W24
            while d24 and d24[0][0] <= lim:
                st[1] -= d24.popleft()[1]
            lim = t - W1
            while d1 and d1[0][0] <= lim:
                st[3] -= d1.popleft()[1]
            c24[i], s24[i], c1[i], s1[i] = len(d24), st[1], len(d1), st[3]
            d24.append((t, c))
            d1.append((t, c))
            st[1] += c
            st[3] += c
            st[4] = t

        self.ids, self.user, self.ts, self.value_cents, self.channel = ids, user, ts, value_cents, channel
        self.c1, self.s1, self.c24, self.s24, self.ssp = c1, s1, c24, s24, ssp
        self.index = {tid: i for i, tid in enumerate(ids)}
        if len(self.index) != n:
            sys.exit("transaction_id is not unique in the input")
        self.expected = array("b", (1 if user[i] in self.users else 0 for i in range(n)))
        self.n_expected = sum(self.expected)
        self.n_users_seen = len(state)

    def check_row(self, row):
        """The differences of one output row from the reference (empty list when it is right)."""
        i = self.index[row["transaction_id"]]
        names = HOST_NAMES if "txn_count_1h" in row else FLINK_NAMES
        diffs = []

        def diff(field, got, want):
            diffs.append(f"{field}={got!r} want {want!r}")

        if row.get("user_id") != self.user[i]:
            diff("user_id", row.get("user_id"), self.user[i])
        if row.get("event_created_at_ts") != self.ts[i]:
            diff("event_created_at_ts", row.get("event_created_at_ts"), self.ts[i])
        if cents(row.get("transaction_value")) != self.value_cents[i]:
            diff("transaction_value", row.get("transaction_value"), self.value_cents[i] / 100)
        if row.get("channel_code") != self.channel[i]:
            diff("channel_code", row.get("channel_code"), self.channel[i])
        demo = self.users[self.user[i]]
        for f, want in zip(DEMO, demo):
            got = row.get(f)
            if got != want or isinstance(got, bool):
                diff(f, got, want)
        n1, m1, n24, m24, nssp = names
        for f, want in ((n1, self.c1[i]), (n24, self.c24[i])):
            got = row.get(f)
            if got != want or isinstance(got, bool):
                diff(f, got, want)
        for f, want in ((m1, self.s1[i]), (m24, self.s24[i])):
            got = row.get(f)
            if cents(got) != want:
                diff(f, got, want / 100)
        want = None if self.ssp[i] < 0 else self.ssp[i]
        got = row.get(nssp, "<absent>")
        if got != want or isinstance(got, bool):
            diff(nssp, got, want)
        return diffs


def output_files(path):
    if os.path.isfile(path):
        return [path]
    files = []
    for root, _, names in os.walk(path):
        for name in names:
            if not name.endswith(".crc"):
                files.append(os.path.join(root, name))
    return sorted(files)


def compare(ref, path):
    seen = array("b", bytes(len(ref.ids)))
    rows = extra = wrong = dup = bad = 0
    shown = []
    files = output_files(path)
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                rows += 1
                try:
                    row = json.loads(line)
                    tid = row["transaction_id"]
                    i = ref.index.get(tid)
                except (ValueError, KeyError, TypeError):
                    bad += 1
                    if len(shown) < MAX_SHOWN:
                        shown.append(f"unparsable: {line[:120].rstrip()}")
                    continue
                if i is None or not ref.expected[i]:
                    extra += 1
                    if len(shown) < MAX_SHOWN:
                        shown.append(f"{tid}: extra")
                    continue
                if seen[i]:
                    dup += 1
                    if len(shown) < MAX_SHOWN:
                        shown.append(f"{tid}: duplicate")
                    continue
                seen[i] = 1
                diffs = ref.check_row(row)
                if diffs:
                    wrong += 1
                    if len(shown) < MAX_SHOWN:
                        shown.append(f"{tid}: " + ", ".join(diffs))
    missing = sum(1 for i in range(len(ref.ids)) if ref.expected[i] and not seen[i])
    if missing and len(shown) < MAX_SHOWN:
        first = next(ref.ids[i] for i in range(len(ref.ids)) if ref.expected[i] and not seen[i])
        shown.append(f"first missing: {first}")
    ok = not (missing or extra or wrong or dup or bad) and files
    status = "OK" if ok else "FAIL"
    print(f"{status} {path}: files={len(files)} rows={rows} missing={missing} extra={extra} wrong={wrong} "
          f"duplicate={dup} unparsable={bad}" + ("" if not shown else "  first: " + " | ".join(shown)), flush=True)
    return bool(ok)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--transactions", required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("outputs", nargs="+")
    a = ap.parse_args()
    t0 = time.monotonic()
    ref = Reference(a.transactions, a.users)
    print(f"reference: {len(ref.ids)} events of {ref.n_users_seen} users, {ref.n_expected} expected rows "
          f"({len(ref.users)} users in the users file; input sorted by time: {ref.sorted_input}) "
          f"in {time.monotonic() - t0:.1f} s", flush=True)
    ok = True
    for path in a.outputs:
        if not os.path.exists(path):
            print(f"FAIL {path}: does not exist")
            ok = False
            continue
        ok = compare(ref, path) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
