"""Tests of the user_demographics refresh logic against moto's in-process DynamoDB and S3 (`mock_aws`)."""

from __future__ import annotations

import gzip
import json
import os
import sys
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import user_demographics_refresh as refresh_mod  # noqa: E402
from user_demographics_refresh import (  # noqa: E402
    BATCH_SIZE,
    RefreshError,
    RefreshReport,
    RowError,
    build_items,
    chunks,
    detect_format,
    latest_snapshot_key,
    parse_rows,
    refresh,
    to_item,
    validate_row,
    write_items,
)

REGION = "eu-west-1"
TABLE = "user_demographics"
BUCKET = "fraud-artifacts-test"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
CSV_HEADER = "user_id,age,gender_code,location,subscription_type_code,tenure_months,income_bracket_code\n"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def create_table(client):
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def scan_all(client):
    items, kwargs = [], {"TableName": TABLE}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return {item["user_id"]["S"]: item for item in items}
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def csv_row(user_id, age=35, gender=1, location=12, sub=2, tenure=24, income=1):
    return f"{user_id},{age},{gender},{location},{sub},{tenure},{income}\n"


# ---------------------------------------------------------------------------------------------- parsing


def test_detect_format():
    assert detect_format("exports/2025/users.csv") == "csv"
    assert detect_format("exports/users.CSV.gz") == "csv"
    assert detect_format("exports/users.jsonl") == "jsonl"
    assert detect_format("exports/users.json.gz") == "jsonl"
    with pytest.raises(RefreshError):
        detect_format("exports/users.parquet")


def test_csv_header_must_have_required_columns():
    with pytest.raises(RefreshError, match="tenure_months"):
        list(parse_rows("user_id,age,gender_code,location,subscription_type_code,income_bracket_code\n", "csv"))


def test_jsonl_bad_line_is_a_row_error_not_a_crash():
    rows = list(parse_rows('{"user_id": "a"}\n\nnot json\n', "jsonl"))
    assert [line for line, _ in rows] == [1, 3]
    assert isinstance(rows[1][1], RowError)


# ---------------------------------------------------------------------------------------------- validation


def test_validate_row_converts_types_and_drops_unknown_columns():
    record = validate_row(
        {
            "user_id": " u-1 ",
            "age": "35",
            "gender_code": 1,
            "location": "12.0",
            "subscription_type_code": 2,
            "tenure_months": 24,
            "income_bracket_code": "1",
            "email": "dropped@example.com",
        }
    )
    assert record == {
        "user_id": "u-1",
        "age": 35,
        "gender_code": 1,
        "location": 12,
        "subscription_type_code": 2,
        "tenure_months": 24,
        "income_bracket_code": 1,
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"user_id": ""}, "user_id: missing"),
        ({"age": "abc"}, "age: not a number"),
        ({"age": "35.5"}, "age: not an integer"),
        ({"age": -1}, "age: -1 is below 0"),
        ({"age": 200}, "age: 200 is above 130"),
        ({"tenure_months": True}, "tenure_months: expected an integer, got a boolean"),
        ({"location": None}, "location: missing"),
        ({"user_id": ["x"]}, "user_id: expected a string"),
        ({"user_id": "x" * 300}, "longer than 256"),
    ],
)
def test_validate_row_rejects(change, message):
    raw = {
        "user_id": "u-1",
        "age": 35,
        "gender_code": 1,
        "location": 12,
        "subscription_type_code": 2,
        "tenure_months": 24,
        "income_bracket_code": 1,
    }
    raw.update(change)
    with pytest.raises(RowError, match=message):
        validate_row(raw)


def test_validate_row_rejects_non_objects():
    with pytest.raises(RowError, match="expected an object"):
        validate_row([1, 2])


def test_to_item_uses_attribute_value_form():
    item = to_item({"user_id": "u-1", "age": 35}, "2025-01-02T03:04:05Z")
    assert item == {"user_id": {"S": "u-1"}, "age": {"N": "35"}, "refreshed_at": {"S": "2025-01-02T03:04:05Z"}}


def test_build_items_dedupes_keys_last_row_wins_and_counts_rejects():
    report = RefreshReport()
    text = CSV_HEADER + csv_row("a", age=20) + csv_row("b") + csv_row("a", age=21) + csv_row("c", age="x")
    items = build_items(parse_rows(text, "csv"), "t", report)
    assert [item["user_id"]["S"] for item in items] == ["b", "a"]
    assert items[1]["age"] == {"N": "21"}
    assert (report.rows_read, report.rows_valid, report.rows_rejected, report.duplicate_keys) == (4, 3, 1, 1)
    assert report.rejects == [{"line": 5, "error": "age: not a number: 'x'"}]


def test_chunks_never_exceed_the_batch_write_limit():
    sizes = [len(batch) for batch in chunks(list(range(60)))]
    assert sizes == [25, 25, 10]
    with pytest.raises(ValueError):
        list(chunks([1], size=26))


# ---------------------------------------------------------------------------------------------- writing (moto)


@mock_aws
def test_write_items_upserts_in_batches_of_25():
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    client.put_item(TableName=TABLE, Item={"user_id": {"S": "u-0"}, "age": {"N": "99"}, "stale": {"S": "yes"}})
    items = [to_item({"user_id": f"u-{i}", "age": 30 + i % 50}, "t") for i in range(60)]

    report = RefreshReport()
    calls = []

    class Recording:
        def batch_write_item(self, **kwargs):
            calls.append(len(kwargs["RequestItems"][TABLE]))
            return client.batch_write_item(**kwargs)

    assert write_items(Recording(), TABLE, items, report=report) == 60
    assert calls == [25, 25, 10]
    stored = scan_all(client)
    assert len(stored) == 60
    assert stored["u-0"] == {"user_id": {"S": "u-0"}, "age": {"N": "30"}, "refreshed_at": {"S": "t"}}
    assert (report.items_written, report.batches, report.retries) == (60, 3, 0)


class Throttling:
    """Wraps the moto client and hands back part of each batch as UnprocessedItems for the first calls."""

    def __init__(self, client, fail_calls, keep_unprocessed=3):
        self.client = client
        self.fail_calls = fail_calls
        self.keep = keep_unprocessed
        self.sent = []

    def batch_write_item(self, RequestItems):
        requests = RequestItems[TABLE]
        self.sent.append([r["PutRequest"]["Item"]["user_id"]["S"] for r in requests])
        if self.fail_calls > 0:
            self.fail_calls -= 1
            done, left = requests[: -self.keep], requests[-self.keep :]
            if done:
                self.client.batch_write_item(RequestItems={TABLE: done})
            return {"UnprocessedItems": {TABLE: left}}
        return self.client.batch_write_item(RequestItems=RequestItems)


@mock_aws
def test_write_items_retries_unprocessed_items_with_backoff():
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    items = [to_item({"user_id": f"u-{i}"}, "t") for i in range(30)]
    fake = Throttling(client, fail_calls=2)
    delays = []
    report = RefreshReport()

    assert write_items(fake, TABLE, items, report=report, sleep=delays.append, base_delay=0.1) == 30
    # First batch: 25 sent, 3 left; the 3 are sent again, all 3 left; then the 3 go through.
    assert [len(s) for s in fake.sent] == [25, 3, 3, 5]
    assert fake.sent[1] == fake.sent[2] == ["u-22", "u-23", "u-24"]
    assert delays == [0.1, 0.2]
    assert report.retries == 2
    assert sorted(scan_all(client)) == sorted(f"u-{i}" for i in range(30))


@mock_aws
def test_write_items_gives_up_after_max_attempts():
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    items = [to_item({"user_id": f"u-{i}"}, "t") for i in range(5)]
    fake = Throttling(client, fail_calls=100, keep_unprocessed=2)
    with pytest.raises(RefreshError, match="2 items still unprocessed after 4"):
        write_items(fake, TABLE, items, max_attempts=4, sleep=lambda _: None)
    assert len(fake.sent) == 4


# ---------------------------------------------------------------------------------------------- whole run (moto S3 + DynamoDB)


@mock_aws
def test_refresh_loads_the_newest_snapshot_and_updates_existing_users():
    s3 = boto3.client("s3", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    create_table(ddb)
    ddb.put_item(TableName=TABLE, Item={"user_id": {"S": "u-1"}, "age": {"N": "18"}})

    s3.put_object(Bucket=BUCKET, Key="exports/user_demographics/old.csv", Body=CSV_HEADER + csv_row("old-user"))
    s3.put_object(Bucket=BUCKET, Key="exports/user_demographics/readme.txt", Body=b"not a snapshot")
    lines = [
        {"user_id": "u-1", "age": 36, "gender_code": 1, "location": 12, "subscription_type_code": 2,
         "tenure_months": 25, "income_bracket_code": 1},
        {"user_id": 42, "age": 50, "gender_code": 0, "location": 3, "subscription_type_code": 1,
         "tenure_months": 100, "income_bracket_code": 3},
    ]
    body = gzip.compress("\n".join(json.dumps(line) for line in lines).encode())
    s3.put_object(Bucket=BUCKET, Key="exports/user_demographics/zz-newest.jsonl.gz", Body=body)

    assert latest_snapshot_key(s3, BUCKET, "exports/user_demographics/").endswith("zz-newest.jsonl.gz")
    report = refresh(s3, ddb, f"s3://{BUCKET}/exports/user_demographics/", TABLE, now=NOW)

    stored = scan_all(ddb)
    assert set(stored) == {"u-1", "42"}
    assert stored["u-1"]["age"] == {"N": "36"}
    assert stored["u-1"]["refreshed_at"] == {"S": "2025-01-02T03:04:05Z"}
    assert stored["42"]["tenure_months"] == {"N": "100"}
    assert report.as_dict()["source"].endswith("zz-newest.jsonl.gz")
    assert (report.rows_read, report.items_written) == (2, 2)

    # The table's stream saw the MODIFY of u-1 with both images.
    stream_arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    modify = [r for r in records if r["eventName"] == "MODIFY"]
    assert modify and modify[0]["dynamodb"]["OldImage"]["age"] == {"N": "18"}


@mock_aws
def test_refresh_refuses_a_broken_export_without_writing():
    s3 = boto3.client("s3", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    create_table(ddb)
    text = CSV_HEADER + csv_row("a") + csv_row("b", age="old") + csv_row("c", tenure=-3)
    s3.put_object(Bucket=BUCKET, Key="exports/snap.csv", Body=text.encode())

    with pytest.raises(RefreshError, match="2 of 3 rows rejected"):
        refresh(s3, ddb, f"s3://{BUCKET}/exports/", TABLE, max_reject_ratio=0.5)
    assert scan_all(ddb) == {}

    report = refresh(s3, ddb, f"s3://{BUCKET}/exports/", TABLE, max_reject_ratio=0.7)
    assert set(scan_all(ddb)) == {"a"}
    assert report.rows_rejected == 2


@mock_aws
def test_refresh_without_snapshot_fails_clearly():
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    with pytest.raises(RefreshError, match="no snapshot"):
        refresh(s3, boto3.client("dynamodb", region_name=REGION), f"s3://{BUCKET}/exports/", TABLE)


def test_main_parses_local_arguments(monkeypatch):
    seen = {}

    def fake_refresh(**kwargs):
        seen.update(kwargs)
        return RefreshReport(source="s3://b/k")

    monkeypatch.setattr(refresh_mod, "refresh", fake_refresh)
    code = refresh_mod.main(
        ["job", "--source_uri", "s3://b/p/", "--table_name", TABLE, "--max_reject_ratio", "0.2", "--region", REGION]
    )
    assert code == 0
    assert (seen["source_uri"], seen["table_name"], seen["max_reject_ratio"]) == ("s3://b/p/", TABLE, 0.2)


SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples", "user_demographics.jsonl")


@mock_aws
def test_refresh_loads_the_repository_sample_snapshot():
    if not os.path.exists(SAMPLE):
        pytest.skip("samples/user_demographics.jsonl is not in this checkout")
    with open(SAMPLE, "rb") as fh:
        body = fh.read()
    expected = sum(1 for line in body.splitlines() if line.strip())
    s3 = boto3.client("s3", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    create_table(ddb)
    s3.put_object(Bucket=BUCKET, Key="exports/user_demographics/user_demographics.jsonl.gz", Body=gzip.compress(body))

    report = refresh(s3, ddb, f"s3://{BUCKET}/exports/user_demographics/", TABLE, max_reject_ratio=0.0, now=NOW)

    assert (report.rows_read, report.rows_rejected, report.items_written) == (expected, 0, expected)
    assert report.batches == -(-expected // BATCH_SIZE)
    stored = scan_all(ddb)
    assert len(stored) == expected
    first = json.loads(body.splitlines()[0])
    item = stored[first["user_id"]]
    assert item["age"] == {"N": str(first["age"])}
    assert item["tenure_months"] == {"N": str(first["tenure_months"])}
