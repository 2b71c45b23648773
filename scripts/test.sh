#!/usr/bin/env bash
# The whole test suite on a fresh machine: packages, throwaway servers, format lint, the release build, tests,
# a smoke run of every benchmark, the fuzzer.
#
# One build serves the tests and the release check: the tests run on the optimised build (release builds hit
# compiler bugs debug builds do not, SWIFT-NOTES P5), with -enable-testing for the suites' @testable imports —
# a clean clone compiles everything once instead of twice. STOCKBOOM_TEST_CONFIG=debug runs them on the debug
# build instead (quicker to rebuild while iterating) and then builds the release binary as well.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --test
started_services=0
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
    scripts/services.sh start
    started_services=1
    eval "$(scripts/services.sh env)"
fi
# (An if, not `[ … ] && …`: under set -e a false test in the EXIT trap would make a passing run exit 1.)
cleanup() { if [ "$started_services" -eq 1 ]; then scripts/services.sh stop; fi; }
trap cleanup EXIT
export DATABASE_URL REDIS_URL
# The format is checked, not argued about: `swift format -i -r -p Sources Tests Package.swift` fixes it.
swift format lint --strict -r -p Sources Tests Package.swift
config="${STOCKBOOM_TEST_CONFIG:-release}"
case "$config" in
    release) testing=(-Xswiftc -enable-testing) ;;
    debug) testing=() ;;
    *) echo "STOCKBOOM_TEST_CONFIG must be release or debug, not '$config'" >&2; exit 2 ;;
esac
flags=(-c "$config" "${testing[@]}")
swift build "${flags[@]}" --build-tests
# The replication suites run on their own after the rest: each starts three nats-servers and `serve`
# processes, which on two cores slows the timing-bound tests beside them (login back-off, fault sessions).
SWIFT_BACKTRACE=enable=no swift test --skip-build "${flags[@]}" --disable-xctest --skip ReplicationSuites
SWIFT_BACKTRACE=enable=no swift test --skip-build "${flags[@]}" --disable-xctest --filter ReplicationSuites
# Every `make bench-*` at a tiny size on the build above, so that no benchmark rots unseen (figures: none).
STOCKBOOM_BUILD="$config" STOCKBOOM_SWIFT_FLAGS="${testing[*]}" scripts/bench-smoke.sh
# The log's batch decoder under libFuzzer + ASan for a bounded time (longer on demand: scripts/fuzz.sh 3600).
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
# Release builds hit compiler bugs debug builds do not (SWIFT-NOTES P5); the benchmarks use them.
if [ "$config" = debug ]; then swift build -c release --product stockboom; fi

