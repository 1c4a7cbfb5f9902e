#!/usr/bin/env python3
"""Recompute a backtest's metrics with scikit-learn and compare them with its summary.json.

    python3 scripts/check_backtest_metrics.py OUT_DIR [--tolerance 1e-6]

Reads OUT_DIR/scores.jsonl (every event's label and each variant's score) and OUT_DIR/summary.json, and checks
for every variant: ROC AUC (roc_auc_score), PR AUC (average_precision_score), and precision, recall and the
alert count at the variant's threshold (score >= threshold). Prints one line per check; exits 1 on a mismatch.
"""
import argparse
import json
import sys

import numpy as np
from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--tolerance", type=float, default=1e-6)
    args = ap.parse_args()
    with open(f"{args.out_dir}/summary.json") as f:
        summary = json.load(f)
    rows = [json.loads(line) for line in open(f"{args.out_dir}/scores.jsonl")]
    y = np.array([r["label"] for r in rows])
    failures = 0

    def check(name, ours, theirs):
        nonlocal failures
        ok = abs(ours - theirs) <= args.tolerance
        failures += 0 if ok else 1
        print(f"{'ok ' if ok else 'BAD'} {name}: backtest {ours:.9f}  scikit-learn {theirs:.9f}")

    for v in summary["variants"]:
        s = np.array([r[v["name"]] for r in rows])
        check(f"{v['name']} roc_auc", v["auc"], roc_auc_score(y, s))
        check(f"{v['name']} pr_auc", v["pr_auc"], average_precision_score(y, s))
        pred = (s >= v["threshold"]).astype(int)
        at = v["at_threshold"]
        check(f"{v['name']} precision@{v['threshold']}", at["precision"], precision_score(y, pred, zero_division=0))
        check(f"{v['name']} recall@{v['threshold']}", at["recall"], recall_score(y, pred, zero_division=0))
        check(f"{v['name']} alerts@{v['threshold']}", at["alerts"], int(pred.sum()))
    print(f"{len(rows)} events, {int(y.sum())} fraud, {len(summary['variants'])} variants, {failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
