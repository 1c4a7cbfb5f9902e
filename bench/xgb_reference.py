#!/usr/bin/env python3
"""Reference for bench/scorer.sh: xgboost's own single-row and batch predict on the same rows."""
import json
import statistics
import sys
import time

import numpy as np
import xgboost as xgb

root = sys.argv[1] if len(sys.argv) > 1 else "."
bst = xgb.Booster()
bst.load_model(f"{root}/models/v1/model.json")
rows = [json.loads(l)["scaled"] for l in open(f"{root}/Tests/Fixtures/xgb-parity.jsonl")]
X = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=np.float32)
bst.set_param({"nthread": 1})
single = []
for _ in range(5):
    n = 2000
    t = time.perf_counter()
    for i in range(n):
        bst.inplace_predict(X[i % len(X):i % len(X) + 1])
    single.append((time.perf_counter() - t) / n * 1e6)
big = np.tile(X, (300, 1))
batch = []
for _ in range(5):
    t = time.perf_counter()
    bst.inplace_predict(big)
    batch.append((time.perf_counter() - t) / len(big) * 1e6)
print(f"xgboost {xgb.__version__} single-row inplace_predict: median {statistics.median(single):.1f} µs/row")
print(f"xgboost batch inplace_predict ({len(big)} rows, 1 thread): median {statistics.median(batch):.3f} µs/row")
