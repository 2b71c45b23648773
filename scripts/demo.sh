#!/usr/bin/env bash
# The main job on a fresh machine: packages, build, throwaway PostgreSQL, Redis and SMTP sink, and a simulated
# trading day through the whole system (engine, read models, queues, worker, gateway on :3001).
# The servers stay up so you can look around; stop them with `make services-stop`.
# Re-running is safe: the demo's log, database (stockboom_demo) and queues are recreated.
#
#   scripts/demo.sh [demo options]   e.g. --stocks 100, --hold (keep the gateway up after the summary)
#   scripts/demo.sh --serve          serve the last demo's day (dashboard on :3001, queue board on :3003) until Ctrl-C
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build --product stockboom && swift build --product stockboom-sim
scripts/services.sh start
eval "$(scripts/services.sh env)"
export DATABASE_URL REDIS_URL SMTP_HOST SMTP_PORT
if [ "${1:-}" = "--serve" ]; then
    [ -d var/demo/eventlog ] || { echo "no demo log yet: run make demo first" >&2; exit 1; }
    echo "serving the demo's day on http://127.0.0.1:${PORT:-3001}/ (minji@example.com / stockboom-demo); Ctrl-C stops"
    exec env DATABASE_URL="${DATABASE_URL%/*}/stockboom_demo" .build/debug/stockboom serve --dir var/demo/eventlog --board-port 3003 --clock-start 2025-01-03T15:30:00+09:00
fi
.build/debug/stockboom-sim demo "$@"
