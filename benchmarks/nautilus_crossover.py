#!/usr/bin/env python3
"""Peer for `stockboom bench engine`: NautilusTrader backtesting a moving-average crossover on the same bars.

    nautilus_crossover.py BARS.csv [--bracket]   # CSV written by `stockboom-sim bench engine|strategy --export-bars`

With --bracket: NautilusTrader's EMACrossBracket example (entries with a stop-loss and a take-profit bracket,
ATR-distanced), the peer of `bench strategy`'s single-stock bracket backtest.

Uses NautilusTrader's own example strategy (EMACross, fast 5 / slow 20, trade size 10) on one equity
instrument per stock, 1-minute bars, a cash account. Only `engine.run()` is timed (data loading and
wrangling are reported separately). Prints one line of JSON.
"""
import csv
import json
import sys
import time
from collections import defaultdict
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig
from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
from nautilus_trader.examples.strategies.ema_cross_bracket import EMACrossBracket, EMACrossBracketConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider

bracket = "--bracket" in sys.argv[2:]
started = time.perf_counter()
rows = defaultdict(list)
with open(sys.argv[1], newline="") as handle:
    for row in csv.DictReader(handle):
        rows[row["stock"]].append(row)

engine = BacktestEngine(config=BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
venue = Venue("XKRX")
engine.add_venue(venue=venue, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                 base_currency=USD, starting_balances=[Money(50_000_000_000, USD)])
bars_total = 0
for stock, series in rows.items():
    instrument = TestInstrumentProvider.equity(symbol=stock, venue="XKRX")
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    frame = pd.DataFrame(
        {k: [float(r[k]) for r in series] for k in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime([int(r["start_us"]) for r in series], unit="us", utc=True),
    )
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    bars_total += len(bars)
    engine.add_data(bars)
    if bracket:
        engine.add_strategy(EMACrossBracket(EMACrossBracketConfig(
            instrument_id=instrument.id, bar_type=bar_type, trade_size=Decimal(10), fast_ema_period=5,
            slow_ema_period=20, bracket_distance_atr=3.0)))
    else:
        engine.add_strategy(EMACross(EMACrossConfig(instrument_id=instrument.id, bar_type=bar_type,
                                                    trade_size=Decimal(10), fast_ema_period=5, slow_ema_period=20)))
loaded = time.perf_counter()
engine.run()
finished = time.perf_counter()
fills = len(engine.trader.generate_fills_report())
print(json.dumps({
    "peer": "NautilusTrader", "strategy": "EMACrossBracket" if bracket else "EMACross", "bars": bars_total, "instruments": len(rows), "fills": fills,
    "loadSeconds": round(loaded - started, 3), "runSeconds": round(finished - loaded, 3),
    "barsPerSecond": round(bars_total / (finished - loaded)),
}))
