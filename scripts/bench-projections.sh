#!/usr/bin/env bash
# The projection benchmark of BENCHMARKS.md: release build, the generated corpus (5 M events by default),
# throwaway PostgreSQL; rebuild of the candles and trades projections vs psql \copy, and live lag.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
bench_corpus "${EVENTS:-5000000}"
bench_services stop
"$sim" bench projections --corpus "$corpus" "$@" 2> >(grep -v NOTICE >&2)
