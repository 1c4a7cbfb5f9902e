"""Feature contract for the fraud model.

This module is the reference definition of the model's input vector. The
Swift streaming code must reproduce it exactly: same names, same order, same
values (bit for bit for every float64 value before scaling).

Inputs
------
A user record (from ``user_demographics``)::

    user_id, age, gender_code, location, subscription_type_code,
    tenure_months, income_bracket_code

A transaction event::

    transaction_id, user_id, event_created_at_ts (int, unix seconds, UTC),
    transaction_value (float), channel_code (int)

Any other field on the event (for example ``is_fraud`` in generated
training data) is ignored.

Feature vector (15 values, float64, this exact order)
----------------------------------------------------
 0 age                      user record
 1 gender_code              user record
 2 location                 user record
 3 subscription_type_code   user record
 4 tenure_months            user record
 5 income_bracket_code      user record
 6 event_created_at_ts      event
 7 transaction_value        event
 8 channel_code             event
 9 hour_of_day              derived from the event
10 txn_count_1h             rolling, per user
11 txn_sum_1h               rolling, per user
12 txn_count_24h            rolling, per user
13 txn_sum_24h              rolling, per user
14 secs_since_prev_txn      rolling, per user

Integers are converted to float64 as they are (all values here are far below
2**53, so this is exact). A demographic field of a user who is not in the
user table is *missing* (NaN). The model and the scaler treat NaN as missing.

Derived feature
---------------
* ``hour_of_day = floor(event_created_at_ts / 3600) mod 24`` using floor
  division and a non-negative modulo (Python's ``//`` and ``%``), i.e. the
  UTC hour, 0..23.

Rolling features
----------------
Stream order: events are ordered by ``event_created_at_ts`` ascending; events
with the same timestamp keep their arrival (file) order. The generated files
and the samples are already in this order, so stream order = file order.

For an event ``e`` of user ``u`` with timestamp ``t``, let ``H`` be the
events of the same user ``u`` that come *before* ``e`` in stream order.
``e`` itself is never part of ``H``. For a window of ``W`` seconds:

* ``window(W) = [h in H where h.ts > t - W]``
  - an event exactly ``W`` seconds earlier (``h.ts == t - W``) is OUT,
  - an event ``W - 1`` seconds earlier is IN,
  - an earlier event with the same timestamp (``h.ts == t``) is IN.
* ``txn_count_<W>`` = ``len(window(W))`` (0 when empty, never missing).
* ``txn_sum_<W>`` = ``math.fsum`` of ``transaction_value`` over
  ``window(W)``: the exact sum of the values, rounded once to the nearest
  float64 (ties to even). It does not depend on the order of the values,
  so a streaming implementation may keep a running exact sum (adding an
  event's value when it enters the window and subtracting it when it
  leaves) without drifting; a plain float64 running total with
  subtraction, or a naive oldest-first sum, is NOT this value in general
  (``math.fsum([1e16, 1.0, -1e16]) == 1.0`` where the naive sum is
  ``0.0``). Empty window: ``0.0``.
* ``1h`` uses ``W = 3600``; ``24h`` uses ``W = 86400``.
* ``secs_since_prev_txn`` = ``t - (timestamp of the last event in H)``; it
  can be 0 (same second). If ``H`` is empty (the user's first event in the
  stream) it is missing (NaN; ``null`` in JSON fixtures). It is not limited
  to the 24h window.

Only well-formed events take part: a line that is not valid JSON or has a
field of the wrong type is dropped before it reaches this state. Events of
users that are not in the user table still keep their own rolling state
(their rolling features are computed normally; only their demographic
features are missing).

Implementation: one deque of (ts, value) per user, holding that user's events
of the last 24 hours. Per event: drop from the left everything with
``ts <= t - 86400``, read the 24h window (whole deque) and the 1h window (the
right-hand part with ``ts > t - 3600``), then append the event. Work per event
is bounded by the number of the user's events in the last 24h.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

FEATURE_NAMES: List[str] = [
    "age",
    "gender_code",
    "location",
    "subscription_type_code",
    "tenure_months",
    "income_bracket_code",
    "event_created_at_ts",
    "transaction_value",
    "channel_code",
    "hour_of_day",
    "txn_count_1h",
    "txn_sum_1h",
    "txn_count_24h",
    "txn_sum_24h",
    "secs_since_prev_txn",
]

DEMOGRAPHIC_FIELDS: List[str] = FEATURE_NAMES[0:6]
EVENT_FIELDS: List[str] = ["event_created_at_ts", "transaction_value", "channel_code"]
ROLLING_FIELDS: List[str] = [
    "hour_of_day",
    "txn_count_1h",
    "txn_sum_1h",
    "txn_count_24h",
    "txn_sum_24h",
    "secs_since_prev_txn",
]

# Features whose raw values are always integers (or missing).
INTEGER_FEATURES = frozenset(FEATURE_NAMES) - {"transaction_value", "txn_sum_1h", "txn_sum_24h"}

WINDOW_1H = 3600
WINDOW_24H = 86400


def hour_of_day(ts: int) -> int:
    """UTC hour of a unix timestamp: floor(ts / 3600) mod 24."""
    return (ts // 3600) % 24


def _window_stats(events: Sequence, t: int, width: int):
    """Count and exact (``math.fsum``) sum of the events with ts > t - width.

    ``events`` is a sequence of (ts, value) in stream order.
    """
    lo = t - width
    i = 0
    n = len(events)
    while i < n and events[i][0] <= lo:
        i += 1
    return n - i, math.fsum(events[k][1] for k in range(i, n))


class RollingState:
    """Per-user rolling state; feed events in stream order."""

    def __init__(self) -> None:
        self._recent: Dict[str, deque] = {}
        self._last_ts: Dict[str, int] = {}

    def update(self, user_id: str, ts: int, value: float) -> Dict[str, float]:
        """Features of this event (from earlier events only), then record it."""
        recent = self._recent.get(user_id)
        if recent is None:
            recent = deque()
            self._recent[user_id] = recent
        cutoff = ts - WINDOW_24H
        while recent and recent[0][0] <= cutoff:
            recent.popleft()
        items = list(recent)  # small: the user's events of the last 24h
        count_24h, sum_24h = _window_stats(items, ts, WINDOW_24H)
        count_1h, sum_1h = _window_stats(items, ts, WINDOW_1H)
        prev = self._last_ts.get(user_id)
        secs = math.nan if prev is None else float(ts - prev)
        recent.append((ts, value))
        self._last_ts[user_id] = ts
        return {
            "hour_of_day": hour_of_day(ts),
            "txn_count_1h": count_1h,
            "txn_sum_1h": sum_1h,
            "txn_count_24h": count_24h,
            "txn_sum_24h": sum_24h,
            "secs_since_prev_txn": secs,
        }


def stream_order(transactions: Sequence[Mapping]) -> List[int]:
    """Indices of ``transactions`` in stream order (ts ascending, ties by position)."""
    return sorted(range(len(transactions)), key=lambda i: transactions[i]["event_created_at_ts"])


def rolling_features(transactions: Sequence[Mapping]) -> List[Dict[str, float]]:
    """Rolling/derived features for every transaction, aligned with the input.

    Each transaction needs ``user_id``, ``event_created_at_ts`` (int) and
    ``transaction_value`` (float). The input may be in any order; features are
    computed in stream order and returned in input order.
    """
    state = RollingState()
    out: List[Optional[Dict[str, float]]] = [None] * len(transactions)
    for i in stream_order(transactions):
        tx = transactions[i]
        out[i] = state.update(tx["user_id"], int(tx["event_created_at_ts"]), float(tx["transaction_value"]))
    return out  # type: ignore[return-value]


def feature_vector(user: Optional[Mapping], tx: Mapping, rolling: Mapping) -> List[float]:
    """The 15 float64 features of one event, NaN for missing values."""
    row: List[float] = []
    for name in DEMOGRAPHIC_FIELDS:
        v = None if user is None else user.get(name)
        row.append(math.nan if v is None else float(v))
    for name in EVENT_FIELDS:
        row.append(float(tx[name]))
    for name in ROLLING_FIELDS:
        row.append(float(rolling[name]))
    return row


def feature_matrix(users: Mapping[str, Mapping], transactions: Sequence[Mapping]):
    """numpy float64 array (len(transactions), 15) in input order."""
    import numpy as np

    rolling = rolling_features(transactions)
    x = np.empty((len(transactions), len(FEATURE_NAMES)), dtype=np.float64)
    for i, (tx, r) in enumerate(zip(transactions, rolling)):
        x[i] = feature_vector(users.get(tx["user_id"]), tx, r)
    return x


def read_jsonl(path: str) -> List[dict]:
    import json

    with open(path, "r", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_users(path: str) -> Dict[str, dict]:
    return {u["user_id"]: u for u in read_jsonl(path)}


def _main(argv: Optional[Iterable[str]] = None) -> int:
    """Print the rolling features of a transactions JSONL file (debug aid)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("transactions", help="transactions JSONL in stream order")
    ap.add_argument("--limit", type=int, default=20)
    args = ap.parse_args(list(argv) if argv is not None else None)
    txs = read_jsonl(args.transactions)
    for tx, r in list(zip(txs, rolling_features(txs)))[: args.limit]:
        secs = r["secs_since_prev_txn"]
        r = dict(r, secs_since_prev_txn=None if math.isnan(secs) else int(secs))
        print(json.dumps({"transaction_id": tx["transaction_id"], **r}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
