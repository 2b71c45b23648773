#!/usr/bin/env bash
# Runs every benchmark script (`make bench-*`) at a tiny size on the debug build (STOCKBOOM_BUILD: another; `make
# test` passes its own build and its flags in STOCKBOOM_SWIFT_FLAGS), with results in
# var/bench-smoke instead of benchmarks/results: it checks that each still runs end to end, not its figures.
# Uses the servers of DATABASE_URL/REDIS_URL when set (as `make test` does), else throwaway ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export STOCKBOOM_BUILD="${STOCKBOOM_BUILD:-debug}" RESULTS=var/bench-smoke PEERS=0
mkdir -p "$RESULTS"
step() {  # name, command...
    local name="$1"; shift
    local started=$SECONDS
    if "$@" > "$RESULTS/$name.out" 2>&1; then
        echo "bench smoke: $name ok ($((SECONDS - started)) s)"
    else
        echo "bench smoke: $name FAILED; its output:" >&2
        tail -40 "$RESULTS/$name.out" >&2
        exit 1
    fi
}
step log env EVENTS=20000 scripts/bench-log.sh --open-events 20000 --single-events 2000 --latency-samples 200 --postgres-single-events 200 --redis-events 2000
step backup env EVENTS=20000 scripts/bench-backup.sh
step projections env EVENTS=20000 scripts/bench-projections.sh --live-rate 1000 --live-seconds 2
step engine scripts/bench-engine.sh --stocks 40 --export-stocks 10
step queue scripts/bench-queue.sh 2000
step replication env EVENTS=20000 scripts/bench-replication.sh --single-events 2000 --latency-samples 200 --lag-rate 1000 --lag-seconds 2
step gateway env STOCKS=20 scripts/bench-gateway.sh 2 4
step dashboard env STOCKS=20 scripts/bench-dashboard.sh 2
step day scripts/bench-day.sh --stocks 40 --accounts 4 --speed 2000 --out "$RESULTS/day"
# 24 people: more than one address may sign up per hour by default (20), as the full run's 200 are.
step day-in-process scripts/bench-day.sh --in-process --stocks 30 --accounts 24 --out "$RESULTS/day"
# A benchmark that only measured refusals would still "run": the gateway's requests must all have succeeded.
if grep -q "Non-2xx" "$RESULTS/gateway.txt"; then echo "bench smoke: gateway answered errors:" >&2; grep -B8 "Non-2xx" "$RESULTS/gateway.txt" >&2; exit 1; fi
