#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ and runs each one (docs/fuzzing.md).
#
#   fuzz/run.sh                      # every target, 1,000,000 inputs each
#   fuzz/run.sh -runs=200000         # every target, N inputs each
#   fuzz/run.sh 300                  # every target for 300 seconds each (at least as long as it takes; no input cap)
#   fuzz/run.sh -runs=1000000 record checkpoint   # only these targets
#
# Environment: FUZZ_SANITIZERS (default "fuzzer,address"; "fuzzer" alone runs ~2x faster),
# FUZZ_JOBS (swift build -j), FUZZ_MAX_LEN (largest input, default 65536: big enough for deep nesting
# and long lines). Each run starts from a temporary copy of fuzz/corpus/<target>/, so the committed seeds never
# grow; a crashing input is saved as fuzz/.build/artifacts/<target>/crash-* and the script exits 1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

limit="-runs=1000000"
targets=()
for arg in "$@"; do
    case "$arg" in
        -runs=*) limit="$arg" ;;
        ''|*[!0-9]*) targets+=("$arg") ;;
        *) limit="-max_total_time=$arg" ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(spec record checkpoint interpolation)

sanitizers="${FUZZ_SANITIZERS:-fuzzer,address}"
max_len="${FUZZ_MAX_LEN:-65536}"
jobs=()
[ -n "${FUZZ_JOBS:-}" ] && jobs=(-j "$FUZZ_JOBS")

product() {
    case "$1" in
        spec) echo FuzzSpec ;;
        record) echo FuzzRecord ;;
        checkpoint) echo FuzzCheckpoint ;;
        interpolation) echo FuzzInterpolation ;;
        *) echo "unknown target $1 (spec, record, checkpoint, interpolation)" >&2; exit 2 ;;
    esac
}

echo "== building with -sanitize=$sanitizers into fuzz/.build" >&2
for t in "${targets[@]}"; do
    swift build -c release --scratch-path "$here/.build" "${jobs[@]}" --product "$(product "$t")" \
        -Xswiftc -sanitize="$sanitizers" >&2
done
bin="$(swift build -c release --scratch-path "$here/.build" --show-bin-path)"

work="$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Leak checking off: the Swift runtime's metadata caches and the process-lifetime yajl callback tables are
# allocated once and never freed, which LeakSanitizer reports as leaks of the first input.
options=(-detect_leaks=0)
# ASan's fake stack for use-after-return is off by default; keep the default. Timeouts catch hangs (quadratic
# scans, loops that never end); the RSS limit catches runaway allocation.
options+=(-timeout=10 -rss_limit_mb=4096 -max_len="$max_len" -print_final_stats=1)

# Swift's crash backtracer would run inside the sanitizer's signal handling and confuse ASan; libFuzzer
# prints the stack and saves the input itself.
export SWIFT_BACKTRACE=enable=no
# LeakSanitizer's exit-time check would fail every run on the same one-time allocations (see -detect_leaks).
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

failed=0
summary="$work/summary"
printf '%-14s %12s %10s %8s %8s %8s  %s\n' target executions "exec/s" cov ft corpus result > "$summary"
for t in "${targets[@]}"; do
    exe="$bin/$(product "$t")"
    corpus="$work/corpus-$t"
    mkdir -p "$corpus" "$here/.build/artifacts/$t"
    cp "$here/corpus/$t/"* "$corpus/"
    dict="$work/$t.dict"
    cat "$here/dict/json.dict" > "$dict"
    [ -f "$here/dict/$t.dict" ] && cat "$here/dict/$t.dict" >> "$dict"
    log="$here/.build/artifacts/$t/last-run.log"
    echo "== $t: $exe $limit (log: fuzz/.build/artifacts/$t/last-run.log)" >&2
    set +e
    "$exe" "$corpus" "$limit" -dict="$dict" -artifact_prefix="$here/.build/artifacts/$t/" "${options[@]}" > "$log" 2>&1
    rc=$?
    set -e
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")"
    units="$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$last")"
    if [ "$rc" -eq 0 ]; then
        result="ok, no crash"
    else
        failed=1
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
        result="CRASH (exit $rc): ${artifact:-see log}"
        grep -E 'FUZZ PROPERTY VIOLATED|Fatal error|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY' "$log" | head -5 >&2 || true
    fi
    printf '%-14s %12s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${units:-?}" "$result" >> "$summary"
done

echo
echo "libFuzzer, -sanitize=$sanitizers, $limit, max_len $max_len"
cat "$summary"
exit "$failed"
