"""Hourly refresh of the `user_demographics` DynamoDB table (AWS Glue Python shell job).

The upstream system drops a full snapshot of user demographics under an S3 prefix as CSV or JSON Lines
(optionally gzip-compressed). This job takes the newest snapshot object under the prefix, validates every
row, converts the valid rows to DynamoDB items and upserts them with BatchWriteItem (25 items per call,
retrying unprocessed items with exponential backoff). The pipeline host sees the changes through the
table's DynamoDB stream.

Everything except `main()` is a plain function so that the transform logic can be tested without Glue
(see glue/tests/test_refresh.py). The module runs on the Glue Python shell runtime (Python 3.9), so it uses
only the standard library and boto3.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

LOG = logging.getLogger("user_demographics_refresh")

BATCH_SIZE = 25  # BatchWriteItem accepts at most 25 put/delete requests per call.
SNAPSHOT_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")


@dataclass(frozen=True)
class FieldSpec:
    """One column of the snapshot: its DynamoDB type and the accepted range."""

    name: str
    kind: str  # "S" (string) or "N" (integer)
    required: bool = True
    minimum: Optional[int] = None
    maximum: Optional[int] = None


# The attributes the scoring pipeline joins on. `user_id` is the table's partition key.
SCHEMA: Tuple[FieldSpec, ...] = (
    FieldSpec("user_id", "S"),
    FieldSpec("age", "N", minimum=0, maximum=130),
    FieldSpec("gender_code", "N", minimum=0, maximum=9),
    FieldSpec("location", "N", minimum=0),
    FieldSpec("subscription_type_code", "N", minimum=0, maximum=99),
    FieldSpec("tenure_months", "N", minimum=0, maximum=1200),
    FieldSpec("income_bracket_code", "N", minimum=0, maximum=99),
)
MAX_USER_ID_LENGTH = 256


class RowError(ValueError):
    """A snapshot row that cannot be loaded; the message says why."""


class RefreshError(RuntimeError):
    """The refresh as a whole failed (too many rejected rows, unprocessed items left, no snapshot)."""


@dataclass
class RefreshReport:
    """What one run did; logged as JSON at the end of the job."""

    source: str = ""
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    duplicate_keys: int = 0
    items_written: int = 0
    batches: int = 0
    retries: int = 0
    rejects: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "duplicate_keys": self.duplicate_keys,
            "items_written": self.items_written,
            "batches": self.batches,
            "retries": self.retries,
            "first_rejects": self.rejects[:20],
        }


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def detect_format(key: str) -> str:
    """Return "csv" or "jsonl" from an object key; `.json` snapshots are JSON Lines."""
    name = key.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise RefreshError(f"unsupported snapshot format: {key!r} (expected one of {', '.join(SNAPSHOT_SUFFIXES)})")


def decode_body(key: str, body: bytes) -> str:
    """Decompress (for `.gz` keys) and decode a snapshot object as UTF-8 (a leading BOM is dropped)."""
    if key.lower().endswith(".gz"):
        body = gzip.decompress(body)
    return body.decode("utf-8-sig")


def parse_rows(text: str, fmt: str) -> Iterator[Tuple[int, Any]]:
    """Yield (line number, raw row) pairs. CSV rows are dicts keyed by the header; JSONL rows are whatever
    each line decodes to (validation rejects non-objects). Undecodable JSON lines yield a RowError value."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None:
            return
        missing = [f.name for f in SCHEMA if f.required and f.name not in reader.fieldnames]
        if missing:
            raise RefreshError(f"CSV header lacks required columns: {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, row
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line, parse_float=Decimal)
            except ValueError as exc:
                yield number, RowError(f"invalid JSON: {exc}")
    else:
        raise RefreshError(f"unknown format {fmt!r}")


# --------------------------------------------------------------------------------------------------
# Validation and conversion
# --------------------------------------------------------------------------------------------------


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise RowError(f"{name}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        number = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise RowError(f"{name}: empty")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise RowError(f"{name}: not a number: {value!r}") from None
    else:
        raise RowError(f"{name}: expected an integer, got {type(value).__name__}")
    if not number.is_finite() or number != number.to_integral_value():
        raise RowError(f"{name}: not an integer: {value!r}")
    return int(number)


def validate_row(raw: Any) -> Dict[str, Any]:
    """Check one raw row against SCHEMA and return the clean record (str / int values only).

    Unknown columns are dropped; missing optional columns are left out of the record.
    Raises RowError with a message naming the column."""
    if isinstance(raw, RowError):
        raise raw
    if not isinstance(raw, dict):
        raise RowError(f"expected an object, got {type(raw).__name__}")
    record: Dict[str, Any] = {}
    for spec in SCHEMA:
        value = raw.get(spec.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                raise RowError(f"{spec.name}: missing")
            continue
        if spec.kind == "S":
            if not isinstance(value, str):
                # Numeric ids in JSON exports are accepted and stored as their decimal text.
                if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
                    raise RowError(f"{spec.name}: expected a string, got {type(value).__name__}")
                value = str(value)
            value = value.strip()
            if len(value) > MAX_USER_ID_LENGTH:
                raise RowError(f"{spec.name}: longer than {MAX_USER_ID_LENGTH} characters")
            record[spec.name] = value
        else:
            number = _to_int(spec.name, value)
            if spec.minimum is not None and number < spec.minimum:
                raise RowError(f"{spec.name}: {number} is below {spec.minimum}")
            if spec.maximum is not None and number > spec.maximum:
                raise RowError(f"{spec.name}: {number} is above {spec.maximum}")
            record[spec.name] = number
    return record


def to_item(record: Dict[str, Any], refreshed_at: str) -> Dict[str, Dict[str, str]]:
    """Convert a validated record to a DynamoDB item in AttributeValue form (the low-level client's format)."""
    kinds = {spec.name: spec.kind for spec in SCHEMA}
    item: Dict[str, Dict[str, str]] = {}
    for name, value in record.items():
        if kinds[name] == "S":
            item[name] = {"S": value}
        else:
            item[name] = {"N": str(value)}
    item["refreshed_at"] = {"S": refreshed_at}
    return item


def build_items(
    rows: Iterable[Tuple[int, Any]], refreshed_at: str, report: RefreshReport
) -> List[Dict[str, Dict[str, str]]]:
    """Validate and convert rows. Later rows win over earlier rows with the same user_id (BatchWriteItem
    rejects a batch that holds the same key twice)."""
    by_key: Dict[str, Dict[str, Dict[str, str]]] = {}
    for line, raw in rows:
        report.rows_read += 1
        try:
            record = validate_row(raw)
        except RowError as exc:
            report.rows_rejected += 1
            report.rejects.append({"line": line, "error": str(exc)})
            continue
        report.rows_valid += 1
        key = record["user_id"]
        if key in by_key:
            report.duplicate_keys += 1
            del by_key[key]  # re-insert so the position follows the latest occurrence
        by_key[key] = to_item(record, refreshed_at)
    return list(by_key.values())


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def chunks(items: List[Any], size: int = BATCH_SIZE) -> Iterator[List[Any]]:
    if size < 1 or size > BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {BATCH_SIZE}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_items(
    client: Any,
    table_name: str,
    items: List[Dict[str, Dict[str, str]]],
    report: Optional[RefreshReport] = None,
    max_attempts: int = 8,
    base_delay: float = 0.05,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Put `items` into `table_name` with BatchWriteItem, 25 per call.

    Unprocessed items (throttling, partition limits) are sent again with exponential backoff, up to
    `max_attempts` calls per batch; items still unprocessed after that raise RefreshError. Returns the
    number of items written."""
    report = report if report is not None else RefreshReport()
    written = 0
    for batch in chunks(items):
        pending: List[Dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in batch]
        attempt = 0
        while pending:
            attempt += 1
            response = client.batch_write_item(RequestItems={table_name: pending})
            report.batches += 1
            unprocessed = response.get("UnprocessedItems", {}).get(table_name, [])
            written += len(pending) - len(unprocessed)
            pending = list(unprocessed)
            if not pending:
                break
            if attempt >= max_attempts:
                raise RefreshError(
                    f"{len(pending)} items still unprocessed after {max_attempts} BatchWriteItem attempts"
                )
            report.retries += 1
            sleep(min(max_delay, base_delay * (2 ** (attempt - 1))))
    report.items_written += written
    return written


# --------------------------------------------------------------------------------------------------
# S3 snapshot selection and the whole run
# --------------------------------------------------------------------------------------------------


def parse_s3_uri(uri: str) -> Tuple[str, str]:
    if not uri.startswith("s3://"):
        raise RefreshError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise RefreshError(f"no bucket in {uri!r}")
    return bucket, prefix


def latest_snapshot_key(s3: Any, bucket: str, prefix: str) -> str:
    """The most recently modified snapshot object under the prefix (ties broken by key)."""
    newest: Optional[Tuple[datetime, str]] = None
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.lower().endswith(SNAPSHOT_SUFFIXES):
                continue
            candidate = (obj["LastModified"], key)
            if newest is None or candidate > newest:
                newest = candidate
    if newest is None:
        raise RefreshError(f"no snapshot ({', '.join(SNAPSHOT_SUFFIXES)}) under s3://{bucket}/{prefix}")
    return newest[1]


def refresh(
    s3: Any,
    dynamodb: Any,
    source_uri: str,
    table_name: str,
    max_reject_ratio: float = 0.01,
    now: Optional[datetime] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RefreshReport:
    """Load the newest snapshot under `source_uri` into `table_name`.

    Fails before writing anything when more than `max_reject_ratio` of the rows are invalid, so a broken
    export never half-overwrites the table."""
    bucket, prefix = parse_s3_uri(source_uri)
    key = latest_snapshot_key(s3, bucket, prefix)
    report = RefreshReport(source=f"s3://{bucket}/{key}")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    text = decode_body(key, body)
    refreshed_at = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = build_items(parse_rows(text, detect_format(key)), refreshed_at, report)
    if report.rows_read == 0:
        raise RefreshError(f"snapshot {report.source} has no rows")
    ratio = report.rows_rejected / report.rows_read
    if ratio > max_reject_ratio:
        raise RefreshError(
            f"{report.rows_rejected} of {report.rows_read} rows rejected ({ratio:.2%} > {max_reject_ratio:.2%}); "
            f"first errors: {report.rejects[:5]}"
        )
    write_items(dynamodb, table_name, items, report=report, sleep=sleep)
    return report


def _job_arguments(argv: List[str]) -> Dict[str, str]:
    names = ["source_uri", "table_name"]
    optional = {"max_reject_ratio": "0.01", "region": ""}
    try:  # On Glue: job parameters arrive as --name value pairs, read with getResolvedOptions.
        from awsglue.utils import getResolvedOptions  # type: ignore

        present = [name for name in optional if f"--{name}" in argv]
        args = dict(optional)
        args.update(getResolvedOptions(argv, names + present))
        return args
    except ImportError:  # Local run.
        import argparse

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        for name in names:
            parser.add_argument(f"--{name}", required=True)
        for name, default in optional.items():
            parser.add_argument(f"--{name}", default=default)
        parsed, _ = parser.parse_known_args(argv[1:])
        return vars(parsed)


def main(argv: Optional[List[str]] = None) -> int:
    import boto3

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _job_arguments(list(sys.argv if argv is None else argv))
    session = boto3.session.Session(region_name=args.get("region") or None)
    report = refresh(
        s3=session.client("s3"),
        dynamodb=session.client("dynamodb"),
        source_uri=args["source_uri"],
        table_name=args["table_name"],
        max_reject_ratio=float(args["max_reject_ratio"]),
    )
    LOG.info("refresh finished: %s", json.dumps(report.as_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
