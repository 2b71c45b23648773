#!/usr/bin/env bash
# libFuzzer on the log's batch decoder (Sources/FuzzBatchDecoder), seeded with the golden log's frames.
#
#   scripts/fuzz.sh [SECONDS]     default 60 (CI); run longer on demand, e.g. scripts/fuzz.sh 3600
#
# Built with --sanitize=fuzzer,address in its own scratch path (.build-fuzz), so the normal build is not
# invalidated. A crash, a leak or a hang (-timeout=10 s per input) fails the run and leaves the input in
# var/fuzz/artifacts/; replay it with `.build-fuzz/debug/FuzzBatchDecoder var/fuzz/artifacts/crash-…`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
swift build --sanitize=fuzzer --sanitize=address --product FuzzBatchDecoder --scratch-path .build-fuzz 2>&1 | grep -E "error:|Build complete" || true
binary=.build-fuzz/debug/FuzzBatchDecoder
[ -x "$binary" ] || { echo "fuzz: the fuzzer did not build" >&2; exit 1; }
mkdir -p var/fuzz/corpus var/fuzz/artifacts
python3 scripts/fuzz-seeds.py var/fuzz/corpus >/dev/null
# SWIFT_BACKTRACE=enable=no: with Swift's backtracer a crash under ASan can hang the run (SWIFT-NOTES §5).
# The fuzzer's own exit status decides (a pipeline's PIPESTATUS after `|| true` does not: a crash once
# passed as "no crash" that way).
set +e
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1 "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=var/fuzz/artifacts/ var/fuzz/corpus > var/fuzz/last-run.txt 2>&1
status=$?
set -e
grep -E "^#[0-9]+ *(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|deadly|crash|Timeout|overflow|#[0-9]+ 0x.* in \\\$s" var/fuzz/last-run.txt || true
[ "$status" -eq 0 ] || { echo "fuzz: the fuzzer failed (exit $status); the input is in var/fuzz/artifacts/" >&2; exit 1; }
echo "fuzz: no crash, leak or hang in $seconds s ($(grep -o 'stat::number_of_executed_units: [0-9]*' var/fuzz/last-run.txt | grep -o '[0-9]*$') inputs)"
