#!/usr/bin/env bash
# The gateway under wrk (Debian): candle queries and durable order placements against a release server on a
# database populated by the demo day, and the same candle query through pgbench as the database's own limit.
# Usage: scripts/bench-gateway.sh [SECONDS] [CONNECTIONS]   (output also in $RESULTS/gateway.txt, default
# benchmarks/results; STOCKS=300 the demo day's market)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-15}"; connections="${2:-32}"
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
bin="$sb"
bench_services
# The demo recreates its database (--database) on the server of DATABASE_URL and fills it with the day.
db="${DATABASE_URL%/*}/sb_bench_gateway"
work=var/bench-gateway; rm -rf "$work"; mkdir -p "$work"
"$sim" demo --dir "$work/eventlog" --stocks "${STOCKS:-300}" --database sb_bench_gateway --port "${DEMO_PORT:-3196}" >/dev/null
psql "$db" -qc "ANALYZE"  # fresh statistics, as autovacuum would give them soon: both the server and pgbench plan with them
day=$(psql "$db" -Atc "SELECT to_char(min(\"timestamp\") AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD') FROM candles")
stock=$(psql "$db" -Atc "SELECT stock_id FROM candles WHERE timeframe = '1m' GROUP BY stock_id ORDER BY count(*) DESC, stock_id LIMIT 1")
port=3197
JWT_SECRET=$(head -c 48 /dev/urandom | base64) BCRYPT_COST=10 STOCKBOOM_ORDER_RATE=1000000 DATABASE_URL="$db" \
  "$bin" serve --dir "$work/eventlog" --port $port --clock-start "${day}T10:00:00+09:00" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf localhost:$port/health >/dev/null && break; sleep 0.1; done
token=$(curl -s -X POST localhost:$port/api/auth/register -H 'Content-Type: application/json' -d '{"email":"bench@example.com","password":"benchmark password"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
account=$(curl -s -X POST localhost:$port/api/broker-accounts -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"broker":"SIMULATED","accountNumber":"5000000001","initialCash":10000000000000,"dailyOrderLimit":100000}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
price=$(curl -s localhost:$port/api/market-data/stocks/$stock -H "Authorization: Bearer $token" | python3 -c 'import sys,json; print(json.load(sys.stdin)["lowerLimit"])')
query="/api/market-data/stocks/$stock/candles?timeframe=1m&limit=60"
cat > "$work/order.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"brokerAccountId":"$account","stockId":"$stock","side":"BUY","quantity":1,"price":$price}'
LUA
cat > "$work/candles.sql" <<SQL
SELECT (extract(epoch FROM "timestamp") * 1000000)::bigint, open, high, low, close, volume FROM (
  SELECT * FROM candles WHERE stock_id = '$stock' AND timeframe = '1m' ORDER BY "timestamp" DESC LIMIT 60) recent ORDER BY "timestamp";
SQL
{
  echo "# $(date -u +%FT%TZ) · $(nproc) cores · ${seconds}s · $connections connections · stock $stock, session $day"
  wrk -t2 -c"$connections" -d"$(( seconds < 3 ? 1 : 3 ))s" -H "Authorization: Bearer $token" "http://127.0.0.1:$port$query" >/dev/null  # warm-up (not reported)
  echo "## candles: GET $query"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$port$query"
  echo "## peer: the same candle query through pgbench (prepared, $connections clients; before the orders, while the server is idle)"
  pgbench -n -M prepared -c"$connections" -j2 -T"$seconds" -f "$work/candles.sql" "$db" 2>&1 | grep -E "tps|latency|transactions"
  echo "## orders: POST /api/orders (durable: fdatasync per group commit)"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/order.lua" "http://127.0.0.1:$port/api/orders"
} | tee "$results/gateway.txt"
