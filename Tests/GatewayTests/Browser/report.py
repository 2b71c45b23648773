#!/usr/bin/env python3
"""A backtest report (stockboom backtest --report DIR) in headless Chromium, opened from the file as a person
would: the three charts drawn, the monthly returns and trade tables filled, no script error. Prints a JSON
summary on the last line.

Usage: report.py REPORT.html [SCREENSHOT]
"""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser

page, shot = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
browser = Browser(width=1400, height=1800)
try:
    browser.navigate("file://" + os.path.abspath(page))
    browser.until("['equity-chart', 'drawdown-chart', 'price-chart'].every(id => "
                  "document.querySelectorAll('#' + id + ' canvas').length > 0)", 20)
    summary = browser.evaluate("""(() => {
        const data = JSON.parse(document.getElementById('report-data').dataset.json);
        return {
            charts: ['equity-chart', 'drawdown-chart', 'price-chart']
                .filter(id => document.querySelectorAll('#' + id + ' canvas').length > 0).length,
            missingLibrary: !document.getElementById('charts-missing').hidden,
            monthlyRows: document.querySelectorAll('#monthly tr').length - 1,
            monthCells: [...document.querySelectorAll('#monthly td')].filter(td => td.textContent.trim() !== '').length,
            tradeRows: document.querySelectorAll('#trades tr').length - 1,
            figures: document.querySelectorAll('table.figures tr').length,
            equityPoints: data.equity.length, holdPoints: data.buyAndHold.length, months: data.monthly.length,
            trades: data.trades.length, chartBars: data.chart.bars.length,
            title: document.title, lang: document.documentElement.lang,
        };
    })()""")
    errors = [e["params"]["exceptionDetails"].get("text", "") for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"]
    summary["scriptErrors"] = errors
    if shot:
        browser.screenshot(shot)
    print(json.dumps(summary))
    if errors or summary["charts"] != 3 or summary["missingLibrary"]:
        sys.exit(1)
finally:
    browser.close()
