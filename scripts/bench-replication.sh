#!/usr/bin/env bash
# The replication benchmark of BENCHMARKS.md: release build, the generated corpus, a throwaway three-node NATS
# cluster on loopback; durable appends local only vs sync vs async, then the follower's lag.
#   EVENTS=1000000 scripts/bench-replication.sh [stockboom-sim bench replication options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
bench_corpus "${EVENTS:-1000000}"
export NATS_DIR=var/nats-bench
scripts/nats-cluster.sh stop >/dev/null 2>&1 || true
scripts/nats-cluster.sh start 24220
trap 'scripts/nats-cluster.sh stop' EXIT
eval "$(scripts/nats-cluster.sh env)"
"$sim" bench replication --corpus "$corpus" --nats "$NATS_URL" "$@"
