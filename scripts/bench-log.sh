#!/usr/bin/env bash
# The log benchmark of BENCHMARKS.md: release build, the generated corpus, throwaway PostgreSQL/Redis peers.
#   EVENTS=1000000 scripts/bench-log.sh [stockboom-sim bench log options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
bench_corpus "${EVENTS:-1000000}"
bench_services stop
"$sim" bench log --corpus "$corpus" "$@"
