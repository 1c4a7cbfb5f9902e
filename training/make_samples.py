#!/usr/bin/env python3
"""Build the committed sample data in ``samples/`` (deterministic).

* ``samples/user_demographics.jsonl``  the users of a generate.py run
* ``samples/transactions.jsonl.gz``    its transactions without ``is_fraud``,
  plus a few hand-made edge-case events and three malformed lines
* ``samples/transactions-labeled.jsonl.gz``  the same well-formed
  transactions with ``is_fraud`` (edge events 0), for ``pipeline-host backtest``
* ``samples/expected-features.jsonl``  rolling/derived features (features.py)
  of the first 2,000 well-formed transactions, computed over the whole
  well-formed stream in file order

Needs only numpy (no xgboost). Run from anywhere::

    python3 training/make_samples.py            # or: bash training/make_samples.sh
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402
import generate as G  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SEED = 20240802
USERS = 2000
WELL_FORMED = 20000  # generated transactions + edge events
START_TS = 1722470400  # 2024-08-01T00:00:00Z, after the training period
DAYS = 7
UNKNOWN_USER_TXNS = 20
EXPECTED_ROWS = 2000

# Malformed lines, by their final 1-based line number in transactions.jsonl.
# Line 12001 is filled in from its neighbour (same user and timestamp).
BAD_LINES = {
    101: '{"transaction_id": "bad-1", "user_id": ',
    5001: "not json at all",
    12001: None,
}

# Hand-made events for one user near the start of the stream, to exercise the
# window edges: (offset seconds from EDGE_T0, value). Same offsets = same second.
EDGE_USER = "u000007"
EDGE_T0 = START_TS + 1800
EDGE_EVENTS = [
    (0, 10.25),       # first: 1h/24h windows start here
    (0, 20.5),        # same second, later in the file: sees the first one
    (3599, 5.75),     # 1h window: both earlier events IN (3599 s < 3600)
    (3600, 7.0),      # 1h window: the events at offset 0 are OUT (exactly 3600 s)
    (3600, 1e-2),     # same second again
    (86399, 3.5),     # 24h window: offset-0 events IN
    (86400, 4.25),    # 24h window: offset-0 events OUT (exactly 86400 s)
]


def build():
    users, txs = G.generate(USERS, WELL_FORMED - len(EDGE_EVENTS), SEED, START_TS, DAYS,
                            unknown_user_txns=UNKNOWN_USER_TXNS)
    labels = {}
    for t in txs:
        labels[t["transaction_id"]] = t.pop("is_fraud")
    assert EDGE_USER in {u["user_id"] for u in users}
    # Insert the edge events after every existing event with ts <= theirs,
    # so the file stays in stream order (ts ascending, ties in file order).
    for k, (off, value) in enumerate(EDGE_EVENTS, start=1):
        ev = {"transaction_id": f"edge-{k:02d}", "user_id": EDGE_USER,
              "event_created_at_ts": EDGE_T0 + off, "transaction_value": value, "channel_code": 1}
        pos = len(txs)
        while pos > 0 and txs[pos - 1]["event_created_at_ts"] > ev["event_created_at_ts"]:
            pos -= 1
        txs.insert(pos, ev)
    lines = [json.dumps(t) for t in txs]
    for lineno in sorted(BAD_LINES):
        text = BAD_LINES[lineno]
        if text is None:
            prev = txs[lineno - 2 - sum(1 for n in BAD_LINES if n < lineno)]
            text = json.dumps({"transaction_id": "bad-3", "user_id": prev["user_id"],
                               "event_created_at_ts": prev["event_created_at_ts"],
                               "transaction_value": "abc", "channel_code": 1})
        lines.insert(lineno - 1, text)
    labeled = [dict(t, is_fraud=labels.get(t["transaction_id"], 0)) for t in txs]
    return users, txs, lines, labeled


def expected_features(txs):
    rows = []
    for tx, r in zip(txs, F.rolling_features(txs)):
        secs = r["secs_since_prev_txn"]
        rows.append({
            "transaction_id": tx["transaction_id"],
            "hour_of_day": int(r["hour_of_day"]),
            "txn_count_1h": int(r["txn_count_1h"]),
            "txn_sum_1h": float(r["txn_sum_1h"]),
            "txn_count_24h": int(r["txn_count_24h"]),
            "txn_sum_24h": float(r["txn_sum_24h"]),
            "secs_since_prev_txn": None if math.isnan(secs) else int(secs),
        })
    return rows


def write_gzip(path: str, text: str) -> None:
    """gzip with no name and mtime 0, so the bytes depend only on the content."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate samples/ deterministically.")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "samples"))
    ap.add_argument("--expected-rows", type=int, default=EXPECTED_ROWS,
                    help=f"rows of expected-features.jsonl (default {EXPECTED_ROWS})")
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)

    users, txs, lines, labeled = build()
    G.write_jsonl(os.path.join(args.out_dir, "user_demographics.jsonl"), users)
    write_gzip(os.path.join(args.out_dir, "transactions.jsonl.gz"), "\n".join(lines) + "\n")
    write_gzip(os.path.join(args.out_dir, "transactions-labeled.jsonl.gz"),
               "".join(json.dumps(t) + "\n" for t in labeled))
    # Well-formed stream = the file minus the malformed lines; re-read from
    # the written text so the expected values come from exactly those bytes.
    good = []
    for n, line in enumerate(lines, start=1):
        if n in BAD_LINES:
            continue
        good.append(json.loads(line))
    assert len(good) == len(txs)
    exp = expected_features(good)[:args.expected_rows]
    with open(os.path.join(args.out_dir, "expected-features.jsonl"), "w", encoding="utf-8") as fh:
        for row in exp:
            fh.write(json.dumps(row) + "\n")

    known = {u["user_id"] for u in users}
    unknown = [t for t in good if t["user_id"] not in known]
    print(f"users {len(users)}; transaction lines {len(lines)} = {len(good)} well-formed "
          f"({len(unknown)} of unknown users, {len(EDGE_EVENTS)} edge events) + {len(BAD_LINES)} malformed "
          f"at lines {sorted(BAD_LINES)}; labeled: {len(labeled)}, "
          f"{sum(t['is_fraud'] for t in labeled)} fraud")
    print(f"expected-features: {len(exp)} rows; with txn_count_1h>0: {sum(r['txn_count_1h'] > 0 for r in exp)}, "
          f"secs null: {sum(r['secs_since_prev_txn'] is None for r in exp)}, "
          f"secs == 0: {sum(r['secs_since_prev_txn'] == 0 for r in exp)}, "
          f"unknown users: {sum(1 for r, t in zip(exp, good) if t['user_id'] not in known)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
