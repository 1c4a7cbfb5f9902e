"""Tests of the feature contract (training/features.py).

Runs with plain python3 + pytest (+ numpy for the matrix/generator tests):

    python3 -m pytest training/tests
"""

import gzip
import json
import math
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
REPO = os.path.dirname(TRAINING)
sys.path.insert(0, TRAINING)

import features as F  # noqa: E402

T0 = 1717200000  # 2024-06-01T00:00:00Z


def tx(tid, ts, value, user="u1"):
    return {"transaction_id": tid, "user_id": user, "event_created_at_ts": ts, "transaction_value": value,
            "channel_code": 0}


def by_id(txs):
    return {t["transaction_id"]: r for t, r in zip(txs, F.rolling_features(txs))}


def test_feature_order():
    assert F.FEATURE_NAMES == [
        "age", "gender_code", "location", "subscription_type_code", "tenure_months",
        "income_bracket_code", "event_created_at_ts", "transaction_value", "channel_code",
        "hour_of_day", "txn_count_1h", "txn_sum_1h", "txn_count_24h", "txn_sum_24h",
        "secs_since_prev_txn",
    ]


def test_first_event_has_no_previous():
    r = by_id([tx("a", T0, 5.0)])["a"]
    assert math.isnan(r["secs_since_prev_txn"])
    assert (r["txn_count_1h"], r["txn_sum_1h"], r["txn_count_24h"], r["txn_sum_24h"]) == (0, 0.0, 0, 0.0)


@pytest.mark.parametrize("width,count_key,sum_key", [
    (3600, "txn_count_1h", "txn_sum_1h"),
    (86400, "txn_count_24h", "txn_sum_24h"),
])
def test_exactly_w_seconds_earlier_is_out(width, count_key, sum_key):
    r = by_id([tx("a", T0, 5.0), tx("b", T0 + width, 7.0)])["b"]
    assert r[count_key] == 0
    assert r[sum_key] == 0.0
    assert r["secs_since_prev_txn"] == width  # not limited to the window


@pytest.mark.parametrize("width,count_key,sum_key", [
    (3600, "txn_count_1h", "txn_sum_1h"),
    (86400, "txn_count_24h", "txn_sum_24h"),
])
def test_w_minus_one_seconds_earlier_is_in(width, count_key, sum_key):
    r = by_id([tx("a", T0, 5.0), tx("b", T0 + width - 1, 7.0)])["b"]
    assert r[count_key] == 1
    assert r[sum_key] == 5.0
    assert r["secs_since_prev_txn"] == width - 1


def test_same_second_earlier_in_file_is_in_later_is_out():
    got = by_id([tx("a", T0, 5.0), tx("b", T0, 7.0), tx("c", T0, 1.5)])
    assert got["a"]["txn_count_1h"] == 0 and math.isnan(got["a"]["secs_since_prev_txn"])
    assert got["b"]["txn_count_1h"] == 1 and got["b"]["txn_sum_1h"] == 5.0
    assert got["b"]["secs_since_prev_txn"] == 0
    assert got["c"]["txn_count_24h"] == 2 and got["c"]["txn_sum_24h"] == 12.0


def test_current_event_excluded_and_users_independent():
    txs = [tx("a", T0, 1.0, "u1"), tx("b", T0 + 10, 2.0, "u2"), tx("c", T0 + 20, 4.0, "u1")]
    got = by_id(txs)
    assert got["b"]["txn_count_24h"] == 0 and math.isnan(got["b"]["secs_since_prev_txn"])
    assert got["c"]["txn_count_1h"] == 1 and got["c"]["txn_sum_1h"] == 1.0
    assert got["c"]["secs_since_prev_txn"] == 20


def test_one_hour_window_is_part_of_24h_window():
    txs = [tx("a", T0, 1.25), tx("b", T0 + 7200, 2.5), tx("c", T0 + 9000, 4.0), tx("d", T0 + 10000, 8.0)]
    r = by_id(txs)["d"]
    assert (r["txn_count_1h"], r["txn_sum_1h"]) == (2, 6.5)  # b is 2800 s, c 1000 s earlier
    assert (r["txn_count_24h"], r["txn_sum_24h"]) == (3, 7.75)
    assert r["secs_since_prev_txn"] == 1000


def test_sum_is_exact_fsum():
    # The contract changed from "oldest-first float64 sum from 0.0" to
    # math.fsum (the exact sum, rounded once), so that the streaming host can
    # keep a running exact sum per window in O(1) per event without drifting.
    # The expectations below changed with it: the oldest-first sum gave 0.0
    # for [1e16, 1.0, -1e16] (the 1.0 is absorbed) and 1.0000000000000002 for
    # 0.1 + 0.2 + 0.7; the exact sums are 1.0 and 1.0.
    txs = [tx("a", T0, 1e16), tx("b", T0 + 1, 1.0), tx("c", T0 + 2, -1e16), tx("d", T0 + 3, 0.5)]
    r = by_id(txs)["d"]
    assert r["txn_sum_1h"] == 1.0
    assert r["txn_sum_24h"] == 1.0
    txs = [tx("a", T0, 0.1), tx("b", T0 + 1, 0.2), tx("c", T0 + 2, 0.7), tx("d", T0 + 3, 1.0)]
    assert by_id(txs)["d"]["txn_sum_1h"] == 1.0
    # Ties round to even across partials (CPython's correction): the 1e-16
    # makes 1e16 + 1 round up to 1e16 + 2, not down to 1e16.
    txs = [tx("a", T0, 1e-16), tx("b", T0 + 1, 1.0), tx("c", T0 + 2, 1e16), tx("d", T0 + 3, 0.0)]
    assert by_id(txs)["d"]["txn_sum_24h"] == 1e16 + 2


def test_sum_does_not_depend_on_order_or_eviction():
    # The same multiset of values in the window gives the same sum, whatever
    # the order of arrival and whatever left the window before.
    vals = [0.1, 1e16, 0.2, -1e16, 0.7, 3.3]
    a = [tx(str(i), T0 + i, v) for i, v in enumerate(vals)] + [tx("end", T0 + 10, 0.0)]
    b = [tx(str(i), T0 + i, v) for i, v in enumerate(reversed(vals))] + [tx("end", T0 + 10, 0.0)]
    evicted = [tx("old", T0 - 4000, 1e300)] + a
    sums = {by_id(x)["end"]["txn_sum_1h"] for x in (a, b, evicted)}
    assert sums == {math.fsum(vals)}


def test_eviction_then_secs_since_prev_still_known():
    txs = [tx("a", T0, 3.0), tx("b", T0 + 100000, 4.0), tx("c", T0 + 100001, 5.0)]
    got = by_id(txs)
    assert got["b"]["txn_count_24h"] == 0 and got["b"]["secs_since_prev_txn"] == 100000
    assert got["c"]["txn_count_24h"] == 1 and got["c"]["txn_sum_24h"] == 4.0


def test_stream_order_sorts_by_ts_keeping_ties_in_file_order():
    txs = [tx("late", T0 + 50, 1.0), tx("x", T0, 2.0), tx("y", T0, 3.0)]
    got = by_id(txs)
    assert math.isnan(got["x"]["secs_since_prev_txn"])
    assert got["y"]["txn_sum_1h"] == 2.0
    assert got["late"]["txn_count_1h"] == 2 and got["late"]["txn_sum_1h"] == 5.0


@pytest.mark.parametrize("ts,hour", [
    (T0, 0), (T0 + 3599, 0), (T0 + 3600, 1), (T0 + 23 * 3600 + 3599, 23), (T0 + 86400, 0),
    (0, 0), (-1, 23), (-3600, 23), (-3601, 22),
])
def test_hour_of_day_floor_utc(ts, hour):
    assert F.hour_of_day(ts) == hour
    assert by_id([tx("a", ts, 1.0)])["a"]["hour_of_day"] == hour


def test_feature_vector_order_and_unknown_user():
    user = {"user_id": "u1", "age": 30, "gender_code": 1, "location": 7, "subscription_type_code": 2,
            "tenure_months": 12, "income_bracket_code": 3}
    t = {"transaction_id": "a", "user_id": "u1", "event_created_at_ts": T0 + 7200,
         "transaction_value": 12.5, "channel_code": 2}
    r = F.rolling_features([t])[0]
    v = F.feature_vector(user, t, r)
    assert v[:10] == [30.0, 1.0, 7.0, 2.0, 12.0, 3.0, float(T0 + 7200), 12.5, 2.0, 2.0]
    assert v[10:14] == [0.0, 0.0, 0.0, 0.0] and math.isnan(v[14])
    unknown = F.feature_vector(None, t, r)
    assert all(math.isnan(x) for x in unknown[:6]) and unknown[6:9] == v[6:9]


def test_feature_matrix_shape():
    np = pytest.importorskip("numpy")
    users = {"u1": {"age": 30, "gender_code": 1, "location": 7, "subscription_type_code": 2,
                    "tenure_months": 12, "income_bracket_code": 3}}
    txs = [tx("a", T0, 1.0), tx("b", T0 + 5, 2.0, user="nobody")]
    x = F.feature_matrix(users, txs)
    assert x.shape == (2, 15) and x.dtype == np.float64
    assert np.isnan(x[1, :6]).all() and not np.isnan(x[0, :6]).any()


def test_generator_is_deterministic_and_ordered():
    pytest.importorskip("numpy")
    import generate as G

    a = G.generate(50, 600, seed=3, start_ts=T0, days=3, unknown_user_txns=4)
    b = G.generate(50, 600, seed=3, start_ts=T0, days=3, unknown_user_txns=4)
    assert a == b
    users, txs = a
    assert len(users) == 50 and len(txs) == 600
    ts = [t["event_created_at_ts"] for t in txs]
    assert ts == sorted(ts) and T0 <= ts[0] and ts[-1] < T0 + 3 * 86400
    assert len({t["transaction_id"] for t in txs}) == 600
    known = {u["user_id"] for u in users}
    assert sum(t["user_id"] not in known for t in txs) == 4
    assert sum(t["is_fraud"] for t in txs) == round(596 * 0.02)
    for u in users:
        assert 18 <= u["age"] <= 90 and 0 <= u["gender_code"] <= 2 and 0 <= u["location"] <= 49
        assert 0 <= u["subscription_type_code"] <= 3 and 0 <= u["tenure_months"] <= 240
        assert 0 <= u["income_bracket_code"] <= 4
    for t in txs:
        assert round(t["transaction_value"], 2) == t["transaction_value"] > 0
        assert 0 <= t["channel_code"] <= 3


SAMPLES = os.path.join(REPO, "samples")


@pytest.mark.skipif(not os.path.exists(os.path.join(SAMPLES, "expected-features.jsonl")),
                    reason="samples not generated")
def test_sample_expected_features_match_reference():
    # expected-features.jsonl was regenerated (training/make_samples.sh) when
    # txn_sum_* became math.fsum: 35 of its 2000 rows had oldest-first sums
    # one or two ulps away from the exact sum (e.g. 208.11999999999998 is now
    # 208.12); the other sample files are byte-identical.
    good, bad = [], 0
    with gzip.open(os.path.join(SAMPLES, "transactions.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            try:
                t = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(t.get("transaction_value"), (int, float)):
                bad += 1
                continue
            good.append(t)
    assert bad == 3 and len(good) == 20000
    with open(os.path.join(SAMPLES, "expected-features.jsonl"), encoding="utf-8") as fh:
        expected = [json.loads(line) for line in fh]
    assert len(expected) == 2000
    for t, r, e in zip(good, F.rolling_features(good), expected):
        assert e["transaction_id"] == t["transaction_id"]
        secs = r["secs_since_prev_txn"]
        got = dict(r, secs_since_prev_txn=None if math.isnan(secs) else int(secs))
        for k in F.ROLLING_FIELDS:
            assert got[k] == e[k], (t["transaction_id"], k)
