#!/usr/bin/env bash
# The engine benchmark of BENCHMARKS.md: release build; backtest + replay of a generated KRX day; the
# NautilusTrader peer (PyPI nautilus_trader) on the same bars in the same run (PEERS=0 skips it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bench-common.sh
scripts/setup.sh --bench
bench_build
"$sim" bench engine --export-bars var/bench-bars.csv "$@"
if [ "${PEERS:-1}" != 0 ]; then
    python3 -c "import nautilus_trader" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "nautilus_trader==1.221.0"
    echo "peer (NautilusTrader, EMACross 5/20 on the exported bars):"
    python3 benchmarks/nautilus_crossover.py var/bench-bars.csv
fi
