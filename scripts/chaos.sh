#!/usr/bin/env bash
# The kill -9 chaos test of hosts sharing a Kinesis stream through leases (moto, real binaries).
#   scripts/chaos.sh          one round of 8,000 records (what CI runs)
#   scripts/chaos.sh --long   5 rounds of 60,000 records
# Environment overrides: CHAOS_RECORDS, CHAOS_ROUNDS. The per-round counts are printed and written to
# out/chaos-report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--long" ]; then
  export CHAOS_RECORDS="${CHAOS_RECORDS:-60000}" CHAOS_ROUNDS="${CHAOS_ROUNDS:-5}"
fi
mkdir -p out
export CHAOS_REPORT="$PWD/out/chaos-report.txt"
swift build --build-tests >/dev/null
swift test --skip-build --filter 'HostKillTests/threeHostsOnEightShardsSurviveAKillNine'
echo "==> report ($CHAOS_REPORT)"
cat "$CHAOS_REPORT"
