#!/usr/bin/env bash
# The seeded fault-schedule simulation (docs/simulation.md): three real pipeline-host processes sharing a
# 4-shard Kinesis stream in moto through leases, under restarts, kill -9, lease steals, DynamoDB/S3 stalls,
# idle periods and bad records drawn from a seed; seven invariants checked against an independent reference.
#   scripts/simulate.sh                 one seed (SIM_SEED, default 1), short: what CI runs
#   scripts/simulate.sh --long          20 consecutive long seeds (16 steps, 5,000 records each)
#   scripts/simulate.sh --seed N        start at seed N (with --long: seeds N … N+19); --seed random
# Environment overrides: SIM_SEED, SIM_SEEDS, SIM_STEPS, SIM_RECORDS, SIM_KEEP (keep scratch dirs), SIM_VERBOSE.
# The per-seed report (seed, steps, records, invariant counts) is written to out/simulation-report.txt and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
while [ $# -gt 0 ]; do
  case "$1" in
    --long) export SIM_SEEDS="${SIM_SEEDS:-20}" SIM_STEPS="${SIM_STEPS:-16}" SIM_RECORDS="${SIM_RECORDS:-5000}"; export SIM_SEED="${SIM_SEED:-1000}" ;;
    --seed) shift; export SIM_SEED="$1" ;;
    *) echo "usage: $0 [--long] [--seed N|random]" >&2; exit 64 ;;
  esac
  shift
done
mkdir -p out
export SIM_REPORT="$PWD/out/simulation-report.txt"
rm -f "$SIM_REPORT"
swift build --build-tests >/dev/null
# Run a copy of the test bundle (and the host binary next to it) directly rather than through `swift test`:
# SwiftPM holds its build lock for as long as `swift test` runs, and a long run would block every other build
# of the checkout for half an hour; a copy is also immune to rebuilds during the run.
bin="$(swift build --show-bin-path 2>/dev/null)"
run="$(mktemp -d "${TMPDIR:-/tmp}/simulate-XXXXXX")"
trap 'rm -rf "$run"' EXIT
cp "$bin/fraud-pipelinePackageTests.xctest" "$bin/pipeline-host" "$run/"
status=0
"$run/fraud-pipelinePackageTests.xctest" --filter 'FaultScheduleSimulationTests/faultScheduleSimulation' --testing-library swift-testing || status=$?
echo "==> report ($SIM_REPORT)"
cat "$SIM_REPORT" 2>/dev/null || echo "(no report written)"
exit $status
