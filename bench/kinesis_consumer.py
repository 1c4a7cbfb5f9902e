#!/usr/bin/env python3
"""boto3 side of bench/kinesis-consumer.sh, against a moto_server endpoint.

  kinesis_consumer.py fill    ENDPOINT STREAM SHARDS RECORDS   create the stream and put RECORDS JSON records
  kinesis_consumer.py consume ENDPOINT STREAM                  read every shard to the end; prints "<records> <seconds>"

The consumer is the plain boto3 loop a Python service would run: one thread per shard, TRIM_HORIZON,
GetRecords with Limit 10000 until an empty reply with MillisBehindLatest 0, and the same per-shard pacing as
the host (at least 200 ms between two calls on a shard: the 5 calls/s Kinesis limit).
"""
import json
import sys
import threading
import time

import boto3

LIMIT = 10000
MIN_INTERVAL = 0.2


def client(endpoint):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def fill(endpoint, stream, shards, records):
    k = client(endpoint)
    k.create_stream(StreamName=stream, ShardCount=shards)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    base = 1_715_936_400
    for start in range(0, records, 500):
        entries = []
        for i in range(start, min(records, start + 500)):
            event = {"transaction_id": f"t{i}", "card_id": f"card-{i % 997}", "amount": round((i % 5000) / 7, 2),
                     "currency": "EUR", "merchant_id": f"m-{i % 313}", "event_created_at_ts": base + i}
            entries.append({"PartitionKey": event["card_id"], "Data": json.dumps(event, separators=(",", ":")).encode()})
        failed = k.put_records(StreamName=stream, Records=entries)["FailedRecordCount"]
        if failed:
            sys.exit(f"{failed} records were not put")


def consume(endpoint, stream):
    k = client(endpoint)
    shards = [s["ShardId"] for s in k.list_shards(StreamName=stream)["Shards"]]
    counts = [0] * len(shards)

    def read(n, shard):
        c = client(endpoint)  # boto3 clients are thread-safe, but one per thread avoids pool contention
        it = c.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        last = 0.0
        while it:
            wait = last + MIN_INTERVAL - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            r = c.get_records(ShardIterator=it, Limit=LIMIT)
            for rec in r["Records"]:
                json.loads(rec["Data"])  # parse, as the host does
            counts[n] += len(r["Records"])
            if not r["Records"] and r.get("MillisBehindLatest", 0) == 0:
                break
            it = r.get("NextShardIterator")

    start = time.monotonic()
    threads = [threading.Thread(target=read, args=(n, s)) for n, s in enumerate(shards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(sum(counts), f"{time.monotonic() - start:.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "fill":
        fill(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
