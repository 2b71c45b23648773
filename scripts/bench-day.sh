#!/usr/bin/env bash
# The trading-day benchmark of BENCHMARKS.md: release build, throwaway servers, `stockboom-sim bench day`
# (which starts the release `stockboom serve` and `stockboom worker` as processes).
#   scripts/bench-day.sh [--stocks 2700] [--accounts 200] …   (results in benchmarks/results/day/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
bench_services
"$sim" bench day "$@"
