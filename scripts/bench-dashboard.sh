#!/usr/bin/env bash
# The dashboard's first paint with the demo's day loaded, in headless Chromium (Debian's), signed in as the
# demo's trader: first contentful paint, DOMContentLoaded, load, the chart's candles answered, and the bytes
# of a first and a cached load, over RUNS fresh loads against a release server.
# Usage: scripts/bench-dashboard.sh [RUNS]   (output also in $RESULTS/dashboard.txt, default
# benchmarks/results; STOCKS=300 the demo day's market; SCREENSHOT=FILE keeps the last load as PNG)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-10}"
source scripts/bench-common.sh
scripts/setup.sh --test
bench_build
bench_services
db="${DATABASE_URL%/*}/sb_bench_dashboard"
work=var/bench-dashboard; rm -rf "$work"; mkdir -p "$work"
"$sim" demo --dir "$work/eventlog" --stocks "${STOCKS:-300}" --database sb_bench_dashboard --port "${DEMO_PORT:-3194}" >/dev/null
port=3195
DATABASE_URL="$db" "$sb" serve --dir "$work/eventlog" --port $port --clock-start 2025-01-03T15:30:00+09:00 > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf localhost:$port/health >/dev/null && break; sleep 0.1; done
{
    echo "# scripts/bench-dashboard.sh $runs  ($(date -u +%Y-%m-%dT%H:%MZ), $build build, STOCKS=${STOCKS:-300}, $(nproc) cores)"
    python3 Tests/GatewayTests/Browser/first_paint.py "http://127.0.0.1:$port" minji@example.com stockboom-demo "$runs" ${SCREENSHOT:+"$SCREENSHOT"}
} | tee "$results/dashboard.txt"
