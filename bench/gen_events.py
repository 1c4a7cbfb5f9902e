#!/usr/bin/env python3
"""Writes N JSON-lines transaction events of about 250 bytes each, deterministically (for benchmarks)."""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
out = sys.argv[2] if len(sys.argv) > 2 else "/dev/stdout"
rng = random.Random(42)
with open(out, "w") as f:
    for i in range(n):
        f.write(
            '{"transaction_id": "t%012d", "user_id": "u%06d", "event_created_at_ts": %d, '
            '"transaction_value": %.2f, "channel_code": %d, "merchant": "m%05d", '
            '"device_id": "d%010d", "ip": "10.%d.%d.%d", "note": "bench %08d"}\n'
            % (i, rng.randrange(100000), 1722470400 + i // 10, rng.random() * 500, rng.randrange(4),
               rng.randrange(50000), rng.randrange(10**10), rng.randrange(256), rng.randrange(256),
               rng.randrange(256), i)
        )
