#!/usr/bin/env bash
# The projection benchmark of BENCHMARKS.md: release build, the shared corpus (5 M events by default),
# throwaway PostgreSQL; rebuild of the candles and trades projections vs psql \copy, and live lag.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
events="${EVENTS:-5000000}"
scripts/setup.sh
swift build -c release --product stockboom
mkdir -p var
corpus="var/bench-corpus-$events.jsonl"
[ -f "$corpus" ] || python3 ../shared/bench/gen_events.py --events "$events" --seed 7 > "$corpus"
scripts/services.sh start
eval "$(scripts/services.sh env)"
trap 'scripts/services.sh stop' EXIT
.build/release/stockboom bench projections --corpus "$corpus" "$@" 2> >(grep -v NOTICE >&2)
