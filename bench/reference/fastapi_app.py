"""Reference: the original Python model service (FastAPI + uvicorn + xgboost), for the benchmark only.

Same request contract as the original service and as model-server's JSON path: the nine original fields,
optional rolling features, hour_of_day derived from event_created_at_ts; StandardScaler from scaler.json;
xgboost Booster.predict on a one-row DMatrix per request. Run by bench/model-server.sh --with-fastapi:

    MODEL_DIR=models/v1 uvicorn fastapi_app:app --app-dir bench/reference --port 8081
"""
import json
import os
from typing import Optional

import numpy as np
import xgboost as xgb
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_DIR = os.environ.get("MODEL_DIR", "/opt/ml/model")

with open(os.path.join(MODEL_DIR, "manifest.json")) as f:
    MANIFEST = json.load(f)
with open(os.path.join(MODEL_DIR, "scaler.json")) as f:
    _scaler = json.load(f)
FEATURES = MANIFEST["features"]
MEAN = np.asarray(_scaler["mean"], dtype=np.float64)
SCALE = np.asarray(_scaler["scale"], dtype=np.float64)
BOOSTER = xgb.Booster()
BOOSTER.load_model(os.path.join(MODEL_DIR, "model.json"))
BOOSTER.set_param({"nthread": 1})

app = FastAPI()


class Transaction(BaseModel):
    age: float
    gender_code: float
    location: float
    subscription_type_code: float
    tenure_months: float
    income_bracket_code: float
    event_created_at_ts: float
    transaction_value: float
    channel_code: float
    hour_of_day: Optional[float] = None
    txn_count_1h: Optional[float] = None
    txn_sum_1h: Optional[float] = None
    txn_count_24h: Optional[float] = None
    txn_sum_24h: Optional[float] = None
    secs_since_prev_txn: Optional[float] = None


@app.get("/ping")
def ping():
    return {"status": "ok"}


@app.post("/invocations")
def invocations(t: Transaction):
    values = t.model_dump()
    if values["hour_of_day"] is None:
        values["hour_of_day"] = (int(t.event_created_at_ts) // 3600) % 24
    raw = np.array([[np.nan if values[n] is None else values[n] for n in FEATURES]], dtype=np.float64)
    scaled = ((raw - MEAN) / SCALE).astype(np.float32)
    p = BOOSTER.predict(xgb.DMatrix(scaled, feature_names=FEATURES))
    return {"fraud_score": float(p[0]), "model_version": MANIFEST["version"]}
