#!/usr/bin/env bash
# SigV4 signing cost of one GetRecords request: the project's signer (release build) against botocore's
# SigV4Auth signing the same request, in the same run. REPS invocations of each; medians reported.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
swift build -c release --product signing-bench >/dev/null
BIN="$(swift build -c release --product signing-bench --show-bin-path)/signing-bench"
for i in $(seq "$REPS"); do
  "$BIN" 50000
  python3 - <<'PY'
import time, datetime
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
body = b'{"ShardIterator":"AAAAAAAAAAHSywljv0zEgPX4NyKdZ5wryMzP9yALs8NeKbUjp1IxtZs1Sp+KEd9I6AJ9ZG4lNR1EMi+9Md/nHvtLyxpfhEzYvkTZ4D9DQVz/mBYWRO6OTZRKnW9gd+efGN2aHFdkH1rJl4BL9Wyrk+ghYG22D2T1Da2EyNSH1+LAbK33gQweTJADBdyMwlo5r6PqcP2dzhg=","Limit":10000}'
creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
auth = SigV4Auth(creds, "kinesis", "us-east-1")
def sign():
    r = AWSRequest(method="POST", url="https://kinesis.us-east-1.amazonaws.com/", data=body,
                   headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.GetRecords"})
    auth.add_auth(r)
for _ in range(500): sign()
runs = []
for _ in range(5):
    n = 5000
    t = time.perf_counter()
    for _ in range(n): sign()
    runs.append((time.perf_counter() - t) / n * 1e6)
runs.sort()
print(f"botocore SigV4Auth.add_auth (same request): median {runs[2]:.2f} µs/op (min {runs[0]:.2f}, max {runs[4]:.2f}) over 5x5000")
PY
done
