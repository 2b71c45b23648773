#!/usr/bin/env python3
"""Computes StockBoom's standard indicator columns with TA-Lib, the independent reference.

    talib_reference.py BARS.csv > reference.csv

Input: the KRX daily layout (date,open,high,low,close,volume,...). Output: one row per bar with the columns
of Engine.IndicatorSet, `nan` during each indicator's warm-up, values printed with repr() (exact doubles).
"""
import csv
import sys

import numpy as np
import talib

rows = list(csv.DictReader(open(sys.argv[1], newline="")))
o, h, l, c = (np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close"))
macd, signal, hist = talib.MACD(c, 12, 26, 9)
upper, middle, lower = talib.BBANDS(c, 20, 2, 2, 0)
slowk, slowd = talib.STOCH(h, l, c, 14, 3, 0, 3, 0)
columns = [
    talib.SMA(c, 5), talib.SMA(c, 20), talib.SMA(c, 60), talib.EMA(c, 12), talib.EMA(c, 26), talib.RSI(c, 14),
    macd, signal, hist, upper, middle, lower, talib.ATR(h, l, c, 14), slowk, slowd,
]
out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["date", "sma_5", "sma_20", "sma_60", "ema_12", "ema_26", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9",
              "macd_hist_12_26_9", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "atr_14", "stoch_k_14_3", "stoch_d_14_3"])
for i, r in enumerate(rows):
    out.writerow([r["date"]] + [repr(float(col[i])) for col in columns])
