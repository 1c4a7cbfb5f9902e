#!/usr/bin/env python3
"""Write ``Tests/Fixtures/xgb-contribs.jsonl``: xgboost 3.2.0's TreeSHAP contributions for every row of the
parity fixture (``Tests/Fixtures/xgb-parity.jsonl``, same order: ordinary rows, rows with missing values, rows on
split thresholds), for the host's TreeSHAP parity test.

Each line: {"contribs": [one per feature in model order, then the bias]} as returned by
``Booster.predict(DMatrix(scaled, missing=NaN), pred_contribs=True)`` (float32 widened to float64, shortest repr).

    python3 training/make_contribs.py [--model models/v1/model.json]   (needs xgboost==3.2.0 and numpy)
"""
import argparse
import json
import os

import numpy as np
import xgboost as xgb


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(root, "models/v1/model.json"))
    ap.add_argument("--parity", default=os.path.join(root, "Tests/Fixtures/xgb-parity.jsonl"))
    ap.add_argument("--out", default=os.path.join(root, "Tests/Fixtures/xgb-contribs.jsonl"))
    a = ap.parse_args()
    if xgb.__version__ != "3.2.0":
        raise SystemExit(f"xgboost 3.2.0 is the reference; this is {xgb.__version__}")
    bst = xgb.Booster()
    bst.load_model(a.model)
    rows = [json.loads(l)["scaled"] for l in open(a.parity, encoding="utf-8")]
    X = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)
    contribs = bst.predict(xgb.DMatrix(X, missing=np.nan, feature_names=bst.feature_names), pred_contribs=True)
    margins = bst.predict(xgb.DMatrix(X, missing=np.nan, feature_names=bst.feature_names), output_margin=True)
    # The property the host's test also checks: contributions and bias add up to the margin.
    worst = float(np.max(np.abs(contribs.astype(np.float64).sum(axis=1) - margins)))
    with open(a.out, "w", encoding="utf-8") as fh:
        for c in contribs:
            fh.write(json.dumps({"contribs": [float(v) for v in c]}) + "\n")
    print(f"wrote {len(rows)} rows to {a.out}; max |sum(contribs) - margin| = {worst:.3g}")


if __name__ == "__main__":
    main()
