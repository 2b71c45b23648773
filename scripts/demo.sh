#!/usr/bin/env bash
# The main job on a fresh machine: packages, build, throwaway PostgreSQL and Redis, and a simulated trading
# day end to end. The servers stay up so you can look around; stop them with `make services-stop`.
# Re-running is safe: the demo's log is recreated and its read models rebuilt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build --product stockboom
scripts/services.sh start
eval "$(scripts/services.sh env)"
export DATABASE_URL REDIS_URL
.build/debug/stockboom demo "$@"
echo ""
echo "servers: PostgreSQL $DATABASE_URL, Redis $REDIS_URL (stop both: make services-stop)"
