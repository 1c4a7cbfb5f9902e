#!/usr/bin/env python3
"""Train the fraud model and write a model bundle ``models/<version>/``.

Bundle contents:

* ``model.json``    XGBoost booster (``Booster.save_model`` to a .json path)
* ``scaler.json``   ``{"feature_names", "mean", "scale"}`` of the StandardScaler
                    fitted on the training rows (floats as Python repr, so they
                    parse back to the same float64)
* ``manifest.json`` version, feature order, alert threshold, metrics, versions

Pipeline: features (features.py) -> StandardScaler -> XGBoost binary:logistic.
The holdout is the last 20% of the time range; rolling features of holdout
rows see the training-period history, as they would in the stream.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402

HOLDOUT_FRACTION = 0.2
NUM_TREES = 100
PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": ["auc", "aucpr"],
    "tree_method": "hist",
    "max_depth": 6,
    "eta": 0.1,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "seed": 0,
    "nthread": 2,
}
TARGET_PRECISION = 0.8


def load_dataset(data_dir: str):
    users = F.load_users(os.path.join(data_dir, "users.jsonl"))
    txs = F.read_jsonl(os.path.join(data_dir, "transactions.jsonl"))
    x = F.feature_matrix(users, txs)
    y = np.array([int(t["is_fraud"]) for t in txs], dtype=np.int64)
    ts = np.array([int(t["event_created_at_ts"]) for t in txs], dtype=np.int64)
    return users, txs, x, y, ts


def time_split(ts: np.ndarray, holdout_fraction: float = HOLDOUT_FRACTION):
    """Boolean mask of holdout rows: ts >= min + (1 - fraction) * (max - min)."""
    t_min, t_max = int(ts.min()), int(ts.max())
    cutoff = t_min + int(round((1.0 - holdout_fraction) * (t_max - t_min)))
    return ts >= cutoff, cutoff


def fit_scaler(x_train: np.ndarray) -> StandardScaler:
    scaler = StandardScaler()
    scaler.fit(x_train)  # NaN is ignored in fit and kept as NaN by transform
    return scaler


def choose_threshold(y: np.ndarray, p: np.ndarray, target_precision: float = TARGET_PRECISION):
    """Lowest threshold on a 0.01 grid whose holdout precision >= target.

    Falls back to the F1-optimal grid threshold if none reaches the target.
    """
    best_f1 = (-1.0, 0.5)
    for thr in np.round(np.arange(0.05, 0.96, 0.01), 2):
        pred = p >= thr
        tp = int(np.sum(pred & (y == 1)))
        fp = int(np.sum(pred & (y == 0)))
        fn = int(np.sum(~pred & (y == 1)))
        if tp == 0:
            continue
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1[0]:
            best_f1 = (f1, float(thr))
        if precision >= target_precision:
            return float(thr)
    return best_f1[1]


def metrics_at(y: np.ndarray, p: np.ndarray, thr: float):
    pred = p >= thr
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "alerts": tp + fp,
    }


def iso_utc(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train the fraud model and write models/<version>/.")
    ap.add_argument("--data-dir", default="training/data", help="dir with users.jsonl and transactions.jsonl")
    ap.add_argument("--models-dir", default="models", help="parent dir of the bundle (default models)")
    ap.add_argument("--version", default="v1", help="bundle version / directory name (default v1)")
    ap.add_argument("--max-depth", type=int, default=PARAMS["max_depth"], help="tree depth (default 6)")
    ap.add_argument("--num-trees", type=int, default=NUM_TREES, help="boosting rounds (default 100)")
    args = ap.parse_args(argv)
    params = dict(PARAMS, max_depth=args.max_depth)
    num_trees = args.num_trees

    t0 = time.time()
    _, txs, x, y, ts = load_dataset(args.data_dir)
    t_feat = time.time() - t0
    holdout, cutoff = time_split(ts)
    train = ~holdout
    print(f"rows {len(y)}  train {int(train.sum())}  holdout {int(holdout.sum())}  "
          f"cutoff {cutoff} ({iso_utc(cutoff)})  fraud rate {y.mean():.4f}  features {t_feat:.1f}s")

    scaler = fit_scaler(x[train])
    xs_train = scaler.transform(x[train])
    xs_hold = scaler.transform(x[holdout])

    dtrain = xgb.DMatrix(xs_train, label=y[train], feature_names=F.FEATURE_NAMES)
    dhold = xgb.DMatrix(xs_hold, label=y[holdout], feature_names=F.FEATURE_NAMES)
    t1 = time.time()
    bst = xgb.train(params, dtrain, num_boost_round=num_trees,
                    evals=[(dtrain, "train"), (dhold, "holdout")], verbose_eval=25)
    print(f"trained {num_trees} trees in {time.time() - t1:.1f}s")

    p_hold = bst.predict(dhold)
    y_hold = y[holdout]
    auc = float(roc_auc_score(y_hold, p_hold))
    pr_auc = float(average_precision_score(y_hold, p_hold))
    thr = choose_threshold(y_hold, p_hold)
    at_thr = metrics_at(y_hold, p_hold, thr)
    print(f"holdout AUC {auc:.4f}  PR-AUC {pr_auc:.4f}  threshold {thr}  "
          f"precision {at_thr['precision']:.3f}  recall {at_thr['recall']:.3f}  alerts {at_thr['alerts']}")

    out = os.path.join(args.models_dir, args.version)
    os.makedirs(out, exist_ok=True)
    bst.save_model(os.path.join(out, "model.json"))
    write_json(os.path.join(out, "scaler.json"), {
        "feature_names": list(F.FEATURE_NAMES),
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
    })
    write_json(os.path.join(out, "manifest.json"), {
        "version": args.version,
        "features": list(F.FEATURE_NAMES),
        "alert_threshold": thr,
        "objective": PARAMS["objective"],
        "num_trees": num_trees,
        "model_file": "model.json",
        "scaler_file": "scaler.json",
        # Deterministic: the end of the training data, not the wall clock.
        "trained_at": iso_utc(int(ts.max()) + 1),
        "training_data": {
            "first_ts": int(ts.min()),
            "last_ts": int(ts.max()),
            "holdout_from_ts": cutoff,
        },
        "metrics": {
            "auc": round(auc, 6),
            "pr_auc": round(pr_auc, 6),
            "precision_at_threshold": round(at_thr["precision"], 6),
            "recall_at_threshold": round(at_thr["recall"], 6),
            "train_rows": int(train.sum()),
            "holdout_rows": int(holdout.sum()),
            "fraud_rate": round(float(y.mean()), 6),
            "holdout_fraud_rate": round(float(y_hold.mean()), 6),
        },
        "xgboost_version": xgb.__version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
    })
    size = os.path.getsize(os.path.join(out, "model.json"))
    print(f"wrote {out}/ (model.json {size} bytes) in {time.time() - t0:.1f}s total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
