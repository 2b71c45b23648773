#!/usr/bin/env python3
"""The dashboard's speed and weight in headless Chromium, signed in: for RUNS fresh loads of BASE/, the first
contentful paint, DOMContentLoaded, load, the moment the chart has its candles, and the bytes transferred.
Prints one line per run and a summary (median and worst) as JSON on the last line.

Usage: first_paint.py BASE EMAIL PASSWORD [RUNS] [SCREENSHOT]
"""
import json, os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser

base, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
shot = sys.argv[5] if len(sys.argv) > 5 else None
browser = Browser()
try:
    browser.sign_in(base, email, password)
    if not browser.evaluate("document.getElementById('portfolio') !== null"):
        sys.exit("not signed in: " + str(browser.evaluate("document.body.innerText.slice(0, 200)")))
    samples = []
    for run in range(runs):
        browser.navigate(base + "/")
        browser.until("document.body.dataset.ready === '1' && Number(document.body.dataset.candles || 0) > 0", 20)
        sample = browser.evaluate("""(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const paint = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
            const resources = performance.getEntriesByType('resource');
            const chart = performance.getEntriesByType('resource').filter(r => r.name.includes('/candles'))
                .map(r => r.responseEnd).sort((a, b) => b - a)[0];
            return {
                fcpMs: paint ? paint.startTime : null,
                domContentLoadedMs: nav.domContentLoadedEventEnd,
                loadMs: nav.loadEventEnd,
                candlesAnsweredMs: chart || null,
                htmlBytes: nav.encodedBodySize,
                totalBytes: nav.transferSize + resources.reduce((sum, r) => sum + (r.transferSize || 0), 0),
                resources: resources.length,
                candles: Number(document.body.dataset.candles || 0),
                orders: document.querySelectorAll('#orders tr[id^=order-]').length,
            };
        })()""")
        samples.append(sample)
        print(json.dumps({"run": run + 1, **sample}))
    if shot:
        browser.screenshot(shot)

    def summary(key):
        values = [s[key] for s in samples if s.get(key) is not None]
        return {"median": round(statistics.median(values), 1), "max": round(max(values), 1)} if values else None

    print(json.dumps({
        "runs": runs,
        "fcpMs": summary("fcpMs"),
        "domContentLoadedMs": summary("domContentLoadedMs"),
        "loadMs": summary("loadMs"),
        "candlesAnsweredMs": summary("candlesAnsweredMs"),
        "htmlBytes": samples[-1]["htmlBytes"],
        "firstLoadBytes": samples[0]["totalBytes"],
        "cachedLoadBytes": samples[-1]["totalBytes"],
        "candles": samples[-1]["candles"],
        "ordersShown": samples[-1]["orders"],
    }))
finally:
    browser.close()
