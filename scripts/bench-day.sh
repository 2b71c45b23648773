#!/usr/bin/env bash
# The trading-day benchmark of BENCHMARKS.md: release build, throwaway servers, `stockboom bench day`.
#   scripts/bench-day.sh [--stocks 2700] [--accounts 200] …   (results in benchmarks/results/day-<stocks>/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build -c release --product stockboom
scripts/services.sh start
eval "$(scripts/services.sh env)"
export DATABASE_URL REDIS_URL
.build/release/stockboom bench day "$@"
