#!/usr/bin/env python3
"""Event → alert latency through the real chain, driven by bench/alert-latency.sh.

  alert_latency.py ENDPOINT HOST_BIN WORKDIR [--rate 1000] [--seconds 30] [--shards 2]

Against a moto_server at ENDPOINT: creates a Kinesis stream, an SNS topic with an SQS queue subscribed (moto
delivers at Publish time), writes a spec (Kinesis → demographics join → rolling aggregates → scaler → local
model with threshold 0, so every event is an alert → SNS), starts the host, then puts RATE events/s for SECONDS
with PutRecords (20 ms ticks, event_created_at_ts = the wall clock at the put). Afterwards it reads every alert
from the queue and measures, per alert, SNS's own Timestamp of the notification minus the event's time: from
the event entering Kinesis to the alert being published. Prints p50/p99/p99.9/max over the steady part (the
first 5 s are warm-up), the count, and the host's own end-to-end p99 from /status.json for comparison.
"""
import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import boto3


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    return boto3.client("kinesis", **kw), boto3.client("sns", **kw), boto3.client("sqs", **kw)


def quantile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("bin")
    ap.add_argument("work")
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=5)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kinesis, sns, sqs = clients(a.endpoint)
    kinesis.create_stream(StreamName="transactions", ShardCount=a.shards)
    kinesis.get_waiter("stream_exists").wait(StreamName="transactions", WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    users = [json.loads(l)["user_id"] for l in open(os.path.join(root, "samples/user_demographics.jsonl"))][:500]
    s = socket.socket(); s.bind(("127.0.0.1", 0)); admin_port = s.getsockname()[1]; s.close()
    spec = {
        "name": "alert-latency",
        "source": {"type": "kinesis", "stream_name": "transactions", "endpoint_url": a.endpoint, "start_position": "LATEST"},
        "transforms": [
            {"type": "dynamo_broadcast", "id": "demographics", "mode": "file",
             "path": os.path.join(root, "samples/user_demographics.jsonl"),
             "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"],
             "on_missing": "missing"},
            {"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "time_field": "event_created_at_ts",
             "value_field": "transaction_value", "allowed_lateness": "5m"},
            {"type": "feature_scaler", "bundle": os.path.join(root, "models/v1")},
            {"type": "local_model", "id": "scorer", "bundle": os.path.join(root, "models/v1"), "threshold": 0.0},
        ],
        "sinks": [{"type": "sns", "id": "alerts", "topic_arn": topic, "endpoint_url": a.endpoint,
                   "when": {"field": "is_alert", "equals": True}}],
        "dead_letter": {"type": "file", "path": os.path.join(a.work, "dead-letter.jsonl")},
        "checkpoint": {"dir": os.path.join(a.work, "checkpoint"), "interval": "5s"},
        "admin": {"address": f"127.0.0.1:{admin_port}"},
    }
    spec_path = os.path.join(a.work, "spec.json")
    json.dump(spec, open(spec_path, "w"))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
               PIPELINE_HOST_ALLOW_HTTP_LOOPBACK="1")
    log = open(os.path.join(a.work, "host.log"), "w")
    host = subprocess.Popen([a.bin, "run", spec_path, "--quiet"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=1)).get("ready"):
                    break
            except Exception:
                pass
            if time.time() > deadline or host.poll() is not None:
                sys.exit("the host did not become ready; see " + log.name)
            time.sleep(0.2)
        time.sleep(1)  # LATEST iterators are taken at start: let every shard reader have one

        tick = 0.02
        per_tick = a.rate * tick
        sent, n, carry = 0, 0, 0.0
        start = time.time()
        next_tick = start
        while time.time() - start < a.seconds:
            carry += per_tick
            k = int(carry)
            carry -= k
            entries = []
            now = time.time()
            for _ in range(k):
                u = users[n % len(users)]
                ev = {"transaction_id": f"t{n}", "user_id": u, "event_created_at_ts": now,
                      "transaction_value": 10 + n % 500, "channel_code": n % 3}
                entries.append({"PartitionKey": u, "Data": json.dumps(ev, separators=(",", ":")).encode()})
                n += 1
            if entries:
                kinesis.put_records(StreamName="transactions", Records=entries)
                sent += len(entries)
            next_tick += tick
            time.sleep(max(0, next_tick - time.time()))
        produced_for = time.time() - start
        time.sleep(3)  # the tail reaches SNS
        status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/status.json", timeout=2))
    finally:
        host.send_signal(signal.SIGTERM)
        try:
            host.wait(timeout=30)
        except subprocess.TimeoutExpired:
            host.kill()

    latencies = []
    while True:
        r = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = r.get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            note = json.loads(m["Body"])
            event = json.loads(note["Message"])
            published = datetime.datetime.strptime(note["Timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            if event["event_created_at_ts"] - start >= a.warmup:
                latencies.append((published - event["event_created_at_ts"]) * 1000)
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    latencies.sort()
    host_p99 = status.get("latency_ms", {}).get("p99")
    print(json.dumps({
        "rate_per_s": round(sent / produced_for), "sent": sent, "alerts_measured": len(latencies),
        "p50_ms": round(quantile(latencies, 0.5), 1), "p99_ms": round(quantile(latencies, 0.99), 1),
        "p999_ms": round(quantile(latencies, 0.999), 1), "max_ms": round(latencies[-1], 1) if latencies else None,
        "host_end_to_end_p99_ms": host_p99, "records_in": status.get("records_in"),
    }))


if __name__ == "__main__":
    main()
