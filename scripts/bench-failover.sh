#!/usr/bin/env bash
# The failover figure of BENCHMARKS.md: FailoverTests' repeated-kill test in its long mode (20 SIGKILLs of the
# primary, two `stockboom serve --replication sync` nodes on three nats-servers), with throwaway PostgreSQL/Redis.
#   KILLS=20 scripts/bench-failover.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --test
source scripts/bench-common.sh
bench_services stop
swift build --build-tests >/dev/null
STOCKBOOM_FAILOVER_KILLS="${KILLS:-20}" SWIFT_BACKTRACE=enable=no \
    swift test --skip-build --disable-xctest --filter 'FailoverTests.failoverTimeOverRepeatedKills' 2>&1 | grep -E 'failover:|passed|failed|issue'
