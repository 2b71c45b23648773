#!/usr/bin/env bash
# Jobs/s through a Redis queue end to end (enqueue → run → engine event appended durably → done) with 1 and 8
# consumers, and the peer in the same run: redis-benchmark of the bare commands a job needs (LPUSH + BLMOVE).
# Usage: scripts/bench-queue.sh [JOBS]   (output also in $RESULTS/queue.txt, default benchmarks/results)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${1:-200000}"
source scripts/bench-common.sh
bench_build
bench_services
port="${REDIS_URL##*:}"; port="${port%%/*}"
password="${REDISCLI_AUTH:-$(python3 -c 'import sys,urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).password or "")' "$REDIS_URL")}"
{
  echo "# $(date -u +%FT%TZ) · $(nproc) cores · $jobs jobs · Redis $(redis-server --version | awk '{print $3}') on loopback"
  echo "## StockBoom queue: stockboom-sim bench queue --jobs $jobs --consumers 1,8 --batch 64"
  REDIS_URL="redis://:$password@127.0.0.1:$port/14" "$sim" bench queue --jobs "$jobs" --consumers 1,8 --batch 64
  echo "## peer: plain redis-benchmark of the bare commands a job needs (defaults: 50 clients, no pipelining)"
  peer() {  # $1 = extra options; prints "LPUSH/s BLMOVE/s"
    REDISCLI_AUTH="$password" redis-cli -p "$port" -n 13 FLUSHDB >/dev/null
    local l b
    l=$(redis-benchmark -a "$password" -p "$port" --dbnum 13 -n "$jobs" $1 -q LPUSH "bench:wait" "job" | tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | awk '{print $1}')
    b=$(redis-benchmark -a "$password" -p "$port" --dbnum 13 -n "$jobs" $1 -q BLMOVE "bench:wait" "bench:active" RIGHT LEFT 1 | tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | awk '{print $1}')
    echo "$l $b"
  }
  read -r lpush blmove <<<"$(peer "")"
  python3 -c "l=$lpush; b=$blmove; print(f'LPUSH {l:,.0f}/s  BLMOVE {b:,.0f}/s  → limit for one LPUSH + one BLMOVE per job: {1/(1/l+1/b):,.0f} jobs/s')"
  echo "## for reference: the same with pipelining (-P 16), which no per-job consumer can use"
  read -r lpush blmove <<<"$(peer "-P 16")"
  python3 -c "l=$lpush; b=$blmove; print(f'LPUSH {l:,.0f}/s  BLMOVE {b:,.0f}/s  → {1/(1/l+1/b):,.0f} jobs/s')"
} | tee "$results/queue.txt"
