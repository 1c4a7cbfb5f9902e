#!/usr/bin/env python3
"""Write the evaluator parity fixture ``Tests/Fixtures/xgb-parity.jsonl``.

Each line is one feature vector taken from the holdout period, with what
sklearn and xgboost 3.2.0 make of it::

    {"kind": "ordinary" | "missing" | "threshold",
     "raw": {<15 named raw features, null = missing>},
     "scaled": [15 numbers: float32 of StandardScaler.transform, null = NaN],
     "margin": <float32 value of bst.predict(..., output_margin=True)>,
     "margin_bits": "<8 hex digits, IEEE-754 bits of that float32>",
     "prob": <float32 value of bst.predict(...)>}

All floats are written as the shortest repr of the float64 that holds the
value, so they parse back exactly (scaled/margin/prob are float32 values
widened to float64: parsing as Double and narrowing to Float is exact).

Row kinds:
* ordinary:  unmodified holdout rows (a random sample plus a sample of fraud
             rows, so that high probabilities are covered too);
* missing:   rows whose secs_since_prev_txn is naturally missing (a user's
             first transaction; these come from the whole stream, since
             the holdout has none), rows with 1-4 randomly blanked features, a
             row with all demographics missing and a row with every feature
             missing;
* threshold: a holdout row with one integer-valued feature replaced by a value
             whose scaled float32 equals a split threshold of the model
             exactly, and that the row's path actually compares at that node.

The script also checks a small numpy reference evaluator written from
shared docs/xgboost-json.md (float32 throughout, base_score through the
logit, trees added in file order after the base) against xgboost on every
fixture row and on the whole holdout, and fails unless all margins match
bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import xgboost as xgb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402
import train as T  # noqa: E402

F32 = np.float32


def _load_expf():
    """The C library's expf (xgboost's Sigmoid calls it); numpy's float32 exp
    is a different implementation and differs in the last bit now and then."""
    try:
        import ctypes
        import ctypes.util

        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = libm.expf
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda v: F32(fn(float(v)))
    except (OSError, AttributeError):
        return lambda v: F32(np.exp(F32(v)))


expf = _load_expf()


# --------------------------------------------------------------------------
# Reference evaluator (numpy, vectorised over rows)
# --------------------------------------------------------------------------
class RefModel:
    def __init__(self, path: str) -> None:
        with open(path, "r", encoding="utf-8") as fh:
            learner = json.load(fh)["learner"]
        if learner["objective"]["name"] != "binary:logistic":
            raise ValueError("only binary:logistic is handled")
        gb = learner["gradient_booster"]
        if gb["name"] != "gbtree":
            raise ValueError("only gbtree is handled")
        self.feature_names = learner["feature_names"]
        base = learner["learner_model_param"]["base_score"].strip("[]").split(",")[0]
        p = F32(base)
        p = min(max(p, F32(1e-6)), F32(1.0) - F32(1e-6))
        # ProbToMargin for logistic: -logf(1.0f / p - 1.0f), all float32
        self.base_margin = F32(-np.log(F32(F32(1.0) / p) - F32(1.0), dtype=F32))
        self.trees = []
        for tree in gb["model"]["trees"]:
            if int(tree["tree_param"]["size_leaf_vector"]) > 1:
                raise ValueError("vector-leaf trees are not handled")
            if any(tree["split_type"]):
                raise ValueError("categorical splits are not handled")
            self.trees.append((
                np.array(tree["left_children"], dtype=np.int64),
                np.array(tree["right_children"], dtype=np.int64),
                np.array(tree["split_indices"], dtype=np.int64),
                np.array(tree["split_conditions"], dtype=F32),
                np.array(tree["default_left"], dtype=bool),
            ))
        if [int(t) for t in gb["model"]["tree_info"]] != [0] * len(self.trees):
            raise ValueError("unexpected tree_info")

    def splits(self):
        """(feature index, threshold) of every internal node."""
        out = set()
        for left, _, feat, cond, _ in self.trees:
            for n in np.flatnonzero(left != -1):
                out.add((int(feat[n]), F32(cond[n])))
        return out

    def predict(self, x32: np.ndarray):
        """x32: float32 (n, d), NaN = missing. Returns (margin, prob, ties).

        ties[i] = set of feature indices whose value equalled the threshold
        at a node on row i's path.
        """
        n = x32.shape[0]
        rows = np.arange(n)
        out = np.full(n, self.base_margin, dtype=F32)
        ties = [set() for _ in range(n)]
        for left, right, feat, cond, dleft in self.trees:
            node = np.zeros(n, dtype=np.int64)
            while True:
                inner = left[node] != -1
                if not inner.any():
                    break
                f = x32[rows, feat[node]]
                missing = np.isnan(f)
                thr = cond[node]
                go_left = np.where(missing, dleft[node], f < thr)
                for i in np.flatnonzero(inner & ~missing & (f == thr)):
                    ties[i].add(int(feat[node[i]]))
                nxt = np.where(go_left, left[node], right[node])
                node = np.where(inner, nxt, node)
            out = (out + cond[node]).astype(F32)  # float32 add, tree order
        x = np.minimum(-out, F32(88.7))
        e = np.array([expf(v) for v in x], dtype=F32)
        prob = ((e + F32(1.0) + F32(1e-16)).astype(F32))
        prob = (F32(1.0) / prob).astype(F32)
        return out, prob, ties


# --------------------------------------------------------------------------
def bits(v) -> str:
    return f"{int(np.array(v, dtype=F32).view(np.uint32)):08x}"


def raw_json(row: np.ndarray) -> dict:
    out = {}
    for name, v in zip(F.FEATURE_NAMES, row):
        if np.isnan(v):
            out[name] = None
        elif name in F.INTEGER_FEATURES:
            out[name] = int(v)
        else:
            out[name] = float(v)
    return out


def scale_exact(raw: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(x - mean) / scale in float64, the form sklearn uses."""
    return (raw - mean) / scale


def threshold_candidates(model: RefModel, mean, scale):
    """(feature, raw integer x, threshold) with float32((x-mean)/scale) == threshold."""
    cands = []
    for f, thr in sorted(model.splits()):
        if F.FEATURE_NAMES[f] not in F.INTEGER_FEATURES:
            continue
        guess = int(np.rint(float(thr) * scale[f] + mean[f]))
        for x in (guess - 1, guess, guess + 1):
            if x < 0:
                continue
            if F32((x - mean[f]) / scale[f]) == thr:
                cands.append((f, x, thr))
                break
    return cands


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write Tests/Fixtures/xgb-parity.jsonl and verify a reference evaluator.")
    ap.add_argument("--data-dir", default="training/data")
    ap.add_argument("--bundle", default="models/v1")
    ap.add_argument("--out", default="Tests/Fixtures/xgb-parity.jsonl")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--ordinary", type=int, default=150)
    ap.add_argument("--fraud", type=int, default=50)
    ap.add_argument("--missing", type=int, default=60)
    ap.add_argument("--threshold", type=int, default=60)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    with open(os.path.join(args.bundle, "scaler.json"), encoding="utf-8") as fh:
        sc = json.load(fh)
    assert sc["feature_names"] == F.FEATURE_NAMES
    mean = np.array(sc["mean"], dtype=np.float64)
    scale = np.array(sc["scale"], dtype=np.float64)
    bst = xgb.Booster()
    bst.load_model(os.path.join(args.bundle, "model.json"))
    ref = RefModel(os.path.join(args.bundle, "model.json"))
    assert ref.feature_names == F.FEATURE_NAMES

    # sklearn's own transform, rebuilt from the exported numbers
    from sklearn.preprocessing import StandardScaler
    skl = StandardScaler()
    skl.mean_, skl.scale_, skl.var_ = mean, scale, scale * scale
    skl.n_features_in_ = len(mean)
    skl.n_samples_seen_ = 1

    _, _, x, y, ts = T.load_dataset(args.data_dir)
    holdout, _ = T.time_split(ts)
    hold_idx = np.flatnonzero(holdout)
    xh = x[hold_idx]

    rows = []  # (kind, raw float64 vector)

    # (c) ordinary rows
    for i in rng.choice(len(hold_idx), size=args.ordinary, replace=False):
        rows.append(("ordinary", xh[i].copy()))
    fraud_pos = np.flatnonzero(y[hold_idx] == 1)
    for i in rng.choice(fraud_pos, size=min(args.fraud, len(fraud_pos)), replace=False):
        rows.append(("ordinary", xh[i].copy()))

    # (a) missing values
    # A user's first transaction has no secs_since_prev_txn. The holdout has
    # few or none (every user was active earlier), so take them from the
    # whole stream.
    secs_col = F.FEATURE_NAMES.index("secs_since_prev_txn")
    natural = np.flatnonzero(np.isnan(x[:, secs_col]))
    n_natural = min(len(natural), args.missing // 3)
    for i in rng.choice(natural, size=n_natural, replace=False):
        rows.append(("missing", x[i].copy()))
    v = xh[rng.integers(len(xh))].copy()
    v[:6] = np.nan  # unknown user: all demographics missing
    rows.append(("missing", v))
    rows.append(("missing", np.full(len(F.FEATURE_NAMES), np.nan)))
    while sum(1 for k, _ in rows if k == "missing") < args.missing:
        v = xh[rng.integers(len(xh))].copy()
        blank = rng.choice(len(F.FEATURE_NAMES), size=int(rng.integers(1, 5)), replace=False)
        v[blank] = np.nan
        rows.append(("missing", v))

    # (b) values sitting exactly on split thresholds
    cands = threshold_candidates(ref, mean, scale)
    by_feature = {}
    for c in cands:
        by_feature.setdefault(c[0], []).append(c)
    feats = sorted(by_feature)
    attempts = 0
    n_thr = 0
    while n_thr < args.threshold:
        attempts += 1
        if attempts > 50000:
            raise RuntimeError("could not place enough rows on thresholds")
        f = feats[n_thr % len(feats)]  # rotate over features for variety
        fc, xv, thr = by_feature[f][rng.integers(len(by_feature[f]))]
        v = xh[rng.integers(len(xh))].copy()
        v[fc] = xv
        z32 = scale_exact(v, mean, scale).astype(F32)
        assert z32[fc] == thr
        _, _, ties = ref.predict(z32[None, :])
        if fc in ties[0]:
            rows.append(("threshold", v))
            n_thr += 1

    raw = np.array([r for _, r in rows], dtype=np.float64)
    kinds = [k for k, _ in rows]

    # scaling: sklearn vs the exact (x - mean) / scale form
    z_skl = skl.transform(raw)
    z_ref = scale_exact(raw, mean, scale)
    same_scaled = np.array_equal(z_skl.view(np.uint64), z_ref.view(np.uint64))
    z32 = z_skl.astype(F32)

    dm = xgb.DMatrix(z_skl, feature_names=F.FEATURE_NAMES)
    margin = bst.predict(dm, output_margin=True).astype(F32)
    prob = bst.predict(dm).astype(F32)
    r_margin, r_prob, ties = ref.predict(z32)

    with open(args.out, "w", encoding="utf-8") as fh:
        for k, rv, zv, m, p in zip(kinds, raw, z32, margin, prob):
            fh.write(json.dumps({
                "kind": k,
                "raw": raw_json(rv),
                "scaled": [None if np.isnan(s) else float(s) for s in zv],
                "margin": float(m),
                "margin_bits": bits(m),
                "prob": float(p),
            }) + "\n")

    # whole-holdout check of the reference evaluator
    zh = skl.transform(xh)
    dh = xgb.DMatrix(zh, feature_names=F.FEATURE_NAMES)
    h_margin = bst.predict(dh, output_margin=True).astype(F32)
    h_prob = bst.predict(dh).astype(F32)
    hr_margin, hr_prob, h_ties = ref.predict(zh.astype(F32))

    def agree(a, b):
        return int(np.sum(a.view(np.uint32) == b.view(np.uint32)))

    counts = {k: kinds.count(k) for k in ("ordinary", "missing", "threshold")}
    n_missing_natural = int(np.sum(np.isnan(raw[:, secs_col])))
    fixture_ok = agree(margin, r_margin) == len(raw)
    holdout_ok = agree(h_margin, hr_margin) == len(xh)
    print(f"wrote {args.out}: {len(raw)} rows {counts}")
    print(f"  rows with any null: {int(np.isnan(raw).any(axis=1).sum())}, "
          f"secs_since_prev_txn null: {n_missing_natural}, natural first-transaction rows: {n_natural} (of {len(natural)} in the data)")
    print(f"  threshold candidates (integer features, exact float32 hit): {len(cands)} over "
          f"{len(feats)} features; fixture rows with a tie on their path: {sum(1 for t in ties if t)}")
    print(f"  sklearn transform == (x-mean)/scale bitwise: {same_scaled}")
    print(f"  base margin {float(ref.base_margin)!r} (bits {bits(ref.base_margin)})")
    print(f"  fixture: margin bitwise {agree(margin, r_margin)}/{len(raw)}, "
          f"prob bitwise {agree(prob, r_prob)}/{len(raw)}, "
          f"max |prob diff| {float(np.max(np.abs(prob.astype(np.float64) - r_prob))):.3g}")
    print(f"  holdout: margin bitwise {agree(h_margin, hr_margin)}/{len(xh)}, "
          f"prob bitwise {agree(h_prob, hr_prob)}/{len(xh)}, "
          f"max |prob diff| {float(np.max(np.abs(h_prob.astype(np.float64) - hr_prob))):.3g}, "
          f"rows with a tie on their path {sum(1 for t in h_ties if t)}/{len(xh)}")
    if not (same_scaled and fixture_ok and holdout_ok):
        print("PARITY CHECK FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
