#!/usr/bin/env python3
"""Event → alert latency through the real chain, driven by bench/alert-latency.sh.

  alert_latency.py KINESIS_ENDPOINT SNS_ENDPOINT HOST_BIN WORKDIR [--rate 1000] [--seconds 60] [--shards 2]

Against moto_servers (one for Kinesis, one for SNS: separate services, as in AWS, and two Python processes
rather than one): creates a Kinesis stream, an SNS topic with an HTTP endpoint of this script
subscribed (moto posts each notification during Publish, as SNS would to the Slack-formatting Lambda), writes a spec (Kinesis → demographics join → rolling aggregates → scaler → local
model with the bundle's threshold → SNS for the alerts, a few percent of the events), starts the host, then puts
RATE events/s for SECONDS with PutRecords (100 ms ticks, event_created_at_ts = the wall clock at the put), and measures per alert the
time from the event's put to its notification reaching the subscriber. Prints p50/p99/p99.9/max over the steady part (the
first 5 s are warm-up), the count, and the host's own end-to-end p99 from /status.json for comparison.
"""
import argparse
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3


def clients(endpoint, sns_endpoint):
    kw = dict(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    return boto3.client("kinesis", endpoint_url=endpoint, **kw), boto3.client("sns", endpoint_url=sns_endpoint, **kw)


class Subscriber(http.server.BaseHTTPRequestHandler):
    """The topic's HTTP subscriber (where production has the Slack-formatting Lambda): notes when each alert arrives."""
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Subscriber.received.append((time.time(), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def quantile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("sns_endpoint")
    ap.add_argument("bin")
    ap.add_argument("work")
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=5)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kinesis, sns = clients(a.endpoint, a.sns_endpoint)
    kinesis.create_stream(StreamName="transactions", ShardCount=a.shards)
    kinesis.get_waiter("stream_exists").wait(StreamName="transactions", WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    subscriber = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
    threading.Thread(target=subscriber.serve_forever, daemon=True).start()
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{subscriber.server_port}/")

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
            {"type": "local_model", "id": "scorer", "bundle": os.path.join(root, "models/v1")},
        ],
        "sinks": [{"type": "file", "id": "scored", "path": os.path.join(a.work, "scored.jsonl")},
                  dict({"type": "sns", "id": "alerts", "topic_arn": topic, "endpoint_url": a.sns_endpoint,
                        "when": {"field": "is_alert", "equals": True}}, **json.loads(os.environ.get("SNS_SETTINGS", "{}")))],
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

        # 100 ms ticks: one PutRecords of RATE/10 records each (moto answers one in ~20 ms unloaded).
        tick = 0.1
        per_tick = a.rate * tick
        sent, n, carry = 0, 0, 0.0
        rng = random.Random(7)
        start = time.time()
        next_tick = start
        while time.time() - start < a.seconds:
            carry += per_tick
            k = int(carry)
            carry -= k
            entries = []
            now = time.time()
            for _ in range(k):
                # Mostly users seen rarely (as in production: a card pays a few times a day), so the alerts are the
                # model's few percent, not a velocity flood; one in ten has demographics in the table.
                u = users[rng.randrange(len(users))] if rng.random() < 0.02 else "u%07d" % rng.randrange(1_000_000, 9_000_000)
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
        json.dump(status, open(os.path.join(a.work, "status.json"), "w"), indent=1)
    finally:
        host.send_signal(signal.SIGTERM)
        try:
            host.wait(timeout=30)
        except subprocess.TimeoutExpired:
            host.kill()

    latencies = []
    timeline = []  # (seconds into the run, latency ms), written next to the host's log for a look at outliers
    for arrived, body in Subscriber.received:
        note = json.loads(body)
        if note.get("Type") != "Notification":
            continue
        event = json.loads(note["Message"])
        if event["event_created_at_ts"] - start >= a.warmup:
            latencies.append((arrived - event["event_created_at_ts"]) * 1000)
            timeline.append((round(event["event_created_at_ts"] - start, 3), round(latencies[-1], 1)))
    json.dump(sorted(timeline), open(os.path.join(a.work, "latencies.json"), "w"))
    latencies.sort()
    sns = next((st for st in status.get("stages", []) if st.get("id") == "alerts"), {})
    host_p99 = (sns.get("latency_ms") or {}).get("p99")
    print(json.dumps({
        "rate_per_s": round(sent / produced_for), "sent": sent, "alerts_measured": len(latencies),
        "p50_ms": round(quantile(latencies, 0.5), 1), "p99_ms": round(quantile(latencies, 0.99), 1),
        "p999_ms": round(quantile(latencies, 0.999), 1), "max_ms": round(latencies[-1], 1) if latencies else None,
        "host_sns_p99_ms": host_p99, "records_in": status.get("records_in"),
    }))


if __name__ == "__main__":
    main()
