#!/usr/bin/env bash
# The log benchmark of BENCHMARKS.md: release build, the shared corpus, throwaway PostgreSQL/Redis peers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
events="${EVENTS:-1000000}"
scripts/setup.sh
swift build -c release --product stockboom
corpus="var/bench-corpus-$events.jsonl"
[ -f "$corpus" ] || python3 ../shared/bench/gen_events.py --events "$events" --seed 7 > "$corpus"
scripts/services.sh start
eval "$(scripts/services.sh env)"
trap 'scripts/services.sh stop' EXIT
.build/release/stockboom log bench --corpus "$corpus" "$@"
