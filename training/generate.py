#!/usr/bin/env python3
"""Deterministic synthetic data for the fraud model.

Writes two JSONL files into --out-dir:

* ``users.jsonl``: one user per line, ordered by user_id::

    {"user_id": "u000123", "age": 41, "gender_code": 1, "location": 17,
     "subscription_type_code": 0, "tenure_months": 37, "income_bracket_code": 2}

* ``transactions.jsonl``: ordered by event_created_at_ts (ties keep the
  generation order), with ``is_fraud`` unless --no-labels::

    {"transaction_id": "t000000001", "user_id": "u000123",
     "event_created_at_ts": 1717200012, "transaction_value": 23.5,
     "channel_code": 2, "is_fraud": 0}

Legitimate activity follows a per-user spending level (driven by income and
subscription), a per-user activity rate, a daytime-heavy hour profile and a
preferred channel, with some harmless look-alikes (short shopping sessions,
occasional large purchases, some night activity). Fraud (about --fraud-rate
of all transactions) comes from three patterns:

* account takeover: a burst of 3-8 transactions seconds to minutes apart,
  above the user's norm, often at night and on an unusual channel;
* spending spike: one transaction far above the user's norm;
* new-account fraud: accounts with very low tenure spending well above the
  norm, mostly at night.

Victims are drawn with extra weight on new (low-tenure) accounts.

The output depends only on the options and the numpy version (pinned in
requirements.txt): numpy.random.default_rng(seed) drives everything.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Dict, List

import numpy as np

DEFAULT_START_TS = 1717200000  # 2024-06-01T00:00:00Z

# Relative transaction intensity per UTC hour for legitimate activity.
HOUR_PROFILE = np.array(
    [0.25, 0.15, 0.1, 0.1, 0.12, 0.2, 0.45, 0.8, 1.1, 1.3, 1.4, 1.5,
     1.6, 1.55, 1.45, 1.4, 1.45, 1.6, 1.75, 1.8, 1.6, 1.2, 0.8, 0.45]
)
NIGHT_HOURS = np.arange(0, 6)


def make_users(rng: np.random.Generator, n: int) -> Dict[str, np.ndarray]:
    age = np.clip(np.rint(rng.normal(41.0, 14.0, n)), 18, 90).astype(np.int64)
    gender = rng.choice(3, size=n, p=[0.49, 0.48, 0.03])
    location = rng.integers(0, 50, size=n)
    subscription = rng.choice(4, size=n, p=[0.45, 0.3, 0.18, 0.07])
    tenure = np.clip(np.rint(rng.exponential(45.0, n)), 0, 240).astype(np.int64)
    new_account = rng.random(n) < 0.08
    tenure[new_account] = rng.integers(0, 4, size=int(new_account.sum()))
    income = rng.choice(5, size=n, p=[0.18, 0.3, 0.27, 0.15, 0.1])
    # Hidden behaviour (not written out).
    spend_mu = (np.log(22.0) + 0.32 * income + 0.12 * subscription
                + 0.004 * (age - 40) + rng.normal(0.0, 0.35, n))
    activity = rng.lognormal(0.0, 0.7, n)
    preferred_channel = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    return {
        "user_id": np.array([f"u{i:06d}" for i in range(n)]),
        "age": age,
        "gender_code": gender,
        "location": location,
        "subscription_type_code": subscription,
        "tenure_months": tenure,
        "income_bracket_code": income,
        "spend_mu": spend_mu,
        "activity": activity,
        "preferred_channel": preferred_channel,
    }


class Batch:
    """Column lists of generated transactions, in generation order."""

    def __init__(self) -> None:
        self.user: List[np.ndarray] = []
        self.ts: List[np.ndarray] = []
        self.value: List[np.ndarray] = []
        self.channel: List[np.ndarray] = []
        self.fraud: List[np.ndarray] = []

    def add(self, user, ts, value, channel, fraud) -> None:
        n = len(ts)
        self.user.append(np.asarray(user, dtype=np.int64).reshape(n))
        self.ts.append(np.asarray(ts, dtype=np.int64).reshape(n))
        self.value.append(np.asarray(value, dtype=np.float64).reshape(n))
        self.channel.append(np.asarray(channel, dtype=np.int64).reshape(n))
        self.fraud.append(np.asarray(fraud, dtype=np.int64).reshape(n))

    def arrays(self):
        return tuple(np.concatenate(c) for c in (self.user, self.ts, self.value, self.channel, self.fraud))


def _amounts(rng, mu, sigma, n, factor=1.0):
    v = np.exp(rng.normal(mu, sigma, n)) * factor
    return np.maximum(np.round(v, 2), 0.5)


def _channels(rng, preferred, n, stickiness=0.75):
    keep = rng.random(n) < stickiness
    return np.where(keep, preferred, rng.integers(0, 4, size=n))


def _day_second(rng, n, hour_p):
    hour = rng.choice(24, size=n, p=hour_p)
    return hour * 3600 + rng.integers(0, 3600, size=n)


def make_legit(rng, users, n, start_ts, days, batch: Batch) -> None:
    hour_p = HOUR_PROFILE / HOUR_PROFILE.sum()
    n_users = len(users["user_id"])
    n_follow = int(round(n * 0.06))
    n_base = n - n_follow
    p_user = users["activity"] / users["activity"].sum()
    uid = rng.choice(n_users, size=n_base, p=p_user)
    ts = start_ts + rng.integers(0, days, size=n_base) * 86400 + _day_second(rng, n_base, hour_p)
    value = _amounts(rng, users["spend_mu"][uid], 0.65, n_base)
    big = rng.random(n_base) < 0.006  # legitimate large purchases
    value[big] = np.round(value[big] * rng.uniform(3.0, 9.0, int(big.sum())), 2)
    channel = _channels(rng, users["preferred_channel"][uid], n_base)
    batch.add(uid, ts, value, channel, np.zeros(n_base))
    # Short shopping sessions: quick follow-ups of existing legit transactions.
    parent = rng.integers(0, n_base, size=n_follow)
    f_uid = uid[parent]
    f_ts = np.minimum(ts[parent] + rng.integers(20, 1200, size=n_follow), start_ts + days * 86400 - 1)
    f_value = _amounts(rng, users["spend_mu"][f_uid], 0.6, n_follow)
    f_channel = channel[parent]
    batch.add(f_uid, f_ts, f_value, f_channel, np.zeros(n_follow))


def make_fraud(rng, users, n, start_ts, days, batch: Batch) -> None:
    n_users = len(users["user_id"])
    tenure = users["tenure_months"]
    victim_w = 1.0 + 5.0 * (tenure < 6) + 1.0 * (tenure < 24)
    victim_p = victim_w / victim_w.sum()
    new_accounts = np.flatnonzero(tenure < 4)
    end_ts = start_ts + days * 86400
    remaining = n
    while remaining > 0:
        kind = rng.choice(3, p=[0.45, 0.3, 0.25])
        if kind == 2 and len(new_accounts) == 0:
            kind = 1
        if kind == 0:  # account takeover burst
            u = rng.choice(n_users, p=victim_p)
            k = min(int(rng.integers(3, 9)), remaining)
            night = rng.random() < 0.55
            hour = rng.choice(NIGHT_HOURS) if night else rng.integers(0, 24)
            t0 = start_ts + int(rng.integers(0, days)) * 86400 + int(hour) * 3600 + int(rng.integers(0, 3600))
            gaps = rng.integers(3, 240, size=k)
            gaps[0] = 0
            ts = np.minimum(t0 + np.cumsum(gaps), end_ts - 1)
            value = _amounts(rng, users["spend_mu"][u] + rng.uniform(0.4, 1.8), 0.5, k)
            ch = rng.integers(0, 4)
            channel = np.full(k, ch)
        elif kind == 1:  # single spending spike
            u = rng.choice(n_users, p=victim_p)
            k = 1
            hour_p = np.where(np.isin(np.arange(24), NIGHT_HOURS), 3.0, 1.0)
            ts = start_ts + rng.integers(0, days, size=1) * 86400 + _day_second(rng, 1, hour_p / hour_p.sum())
            value = _amounts(rng, users["spend_mu"][u], 0.4, 1, factor=rng.uniform(5.0, 25.0))
            channel = _channels(rng, users["preferred_channel"][u], 1, stickiness=0.4)
        else:  # new-account fraud
            u = rng.choice(new_accounts)
            k = min(int(rng.integers(1, 4)), remaining)
            hour_p = np.where(np.isin(np.arange(24), NIGHT_HOURS), 5.0, 1.0)
            day = int(rng.integers(0, days))
            ts = start_ts + day * 86400 + _day_second(rng, k, hour_p / hour_p.sum())
            value = _amounts(rng, users["spend_mu"][u] + rng.uniform(0.8, 2.2), 0.5, k)
            channel = rng.integers(0, 4, size=k)
        batch.add(np.full(k, u), ts, value, channel, np.ones(k))
        remaining -= k


def make_unknown(rng, n_users, n, start_ts, days, batch: Batch) -> List[str]:
    """Transactions of users that are not in users.jsonl (label 0)."""
    if n <= 0:
        return []
    n_ids = max(1, min(5, n))
    ids = [f"u{n_users + 900000 + j:06d}" for j in range(n_ids)]
    uid = -1 - rng.integers(0, n_ids, size=n)  # negative: index into ids
    hour_p = HOUR_PROFILE / HOUR_PROFILE.sum()
    ts = start_ts + rng.integers(0, days, size=n) * 86400 + _day_second(rng, n, hour_p)
    value = _amounts(rng, np.log(30.0), 0.7, n)
    batch.add(uid, ts, value, rng.integers(0, 4, size=n), np.zeros(n))
    return ids


def generate(n_users: int, n_transactions: int, seed: int, start_ts: int, days: int,
             fraud_rate: float = 0.02, unknown_user_txns: int = 0):
    """Return (user_rows, transaction_rows) as lists of dicts, already ordered."""
    if n_users < 1 or days < 1:
        raise ValueError("need at least one user and one day")
    if not 0 <= unknown_user_txns <= n_transactions:
        raise ValueError("unknown_user_txns out of range")
    rng = np.random.default_rng(seed)
    users = make_users(rng, n_users)
    n_known = n_transactions - unknown_user_txns
    n_fraud = int(round(n_known * fraud_rate))
    batch = Batch()
    make_legit(rng, users, n_known - n_fraud, start_ts, days, batch)
    make_fraud(rng, users, n_fraud, start_ts, days, batch)
    unknown_ids = make_unknown(rng, n_users, unknown_user_txns, start_ts, days, batch)
    uid, ts, value, channel, fraud = batch.arrays()
    order = np.argsort(ts, kind="stable")

    user_rows = []
    for i in range(n_users):
        user_rows.append({
            "user_id": str(users["user_id"][i]),
            "age": int(users["age"][i]),
            "gender_code": int(users["gender_code"][i]),
            "location": int(users["location"][i]),
            "subscription_type_code": int(users["subscription_type_code"][i]),
            "tenure_months": int(users["tenure_months"][i]),
            "income_bracket_code": int(users["income_bracket_code"][i]),
        })
    tx_rows = []
    for seq, i in enumerate(order, start=1):
        u = int(uid[i])
        tx_rows.append({
            "transaction_id": f"t{seq:09d}",
            "user_id": unknown_ids[-1 - u] if u < 0 else str(users["user_id"][u]),
            "event_created_at_ts": int(ts[i]),
            "transaction_value": round(float(value[i]), 2),
            "channel_code": int(channel[i]),
            "is_fraud": int(fraud[i]),
        })
    return user_rows, tx_rows


def write_jsonl(path: str, rows, drop=()) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            if drop:
                row = {k: v for k, v in row.items() if k not in drop}
            fh.write(json.dumps(row) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate synthetic users and transactions (JSONL).")
    ap.add_argument("--users", type=int, default=5000, help="number of users (default 5000)")
    ap.add_argument("--transactions", type=int, default=400000, help="number of transactions (default 400000)")
    ap.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    ap.add_argument("--start-ts", type=int, default=DEFAULT_START_TS,
                    help=f"first second of the period, unix UTC (default {DEFAULT_START_TS})")
    ap.add_argument("--days", type=int, default=60, help="length of the period in days (default 60)")
    ap.add_argument("--fraud-rate", type=float, default=0.02, help="share of fraudulent transactions (default 0.02)")
    ap.add_argument("--unknown-user-txns", type=int, default=0,
                    help="transactions whose user_id is not in users.jsonl (default 0)")
    ap.add_argument("--no-labels", action="store_true", help="omit is_fraud from transactions.jsonl")
    ap.add_argument("--out-dir", required=True, help="directory for users.jsonl and transactions.jsonl")
    args = ap.parse_args(argv)

    user_rows, tx_rows = generate(args.users, args.transactions, args.seed, args.start_ts, args.days,
                                  args.fraud_rate, args.unknown_user_txns)
    os.makedirs(args.out_dir, exist_ok=True)
    write_jsonl(os.path.join(args.out_dir, "users.jsonl"), user_rows)
    write_jsonl(os.path.join(args.out_dir, "transactions.jsonl"), tx_rows,
                drop=("is_fraud",) if args.no_labels else ())
    n_fraud = sum(r["is_fraud"] for r in tx_rows)
    print(f"wrote {len(user_rows)} users, {len(tx_rows)} transactions "
          f"({n_fraud} fraud, {n_fraud / max(1, len(tx_rows)):.4f}) to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
