#!/usr/bin/env bash
# The engine benchmark of BENCHMARKS.md: release build; backtest + replay of a generated KRX day; the
# NautilusTrader peer (PyPI nautilus_trader) on the same bars in the same run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
python3 -c "import nautilus_trader" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "nautilus_trader==1.221.0"
swift build -c release --product stockboom
mkdir -p var
.build/release/stockboom bench engine --export-bars var/bench-bars.csv "$@"
echo "peer (NautilusTrader, EMACross 5/20 on the exported bars):"
python3 benchmarks/nautilus_crossover.py var/bench-bars.csv
