#!/usr/bin/env python3
"""The dashboard used as a trader and an operator would, in headless Chromium, printing what happened as JSON.

The person signs in and (without reloading the page) sees the chart, sends an order the engine refuses and one it
takes, watches it fill live (the fill is recorded the way the worker records one, through /internal/commands),
cancels a second order, turns a strategy on and off, writes a rule set in the editor and enables it, opens the order's lifecycle page and /docs, and, as an
operator, halts and resumes all trading. With SHOTS, screenshots of the dashboard, the order page and /docs.

Usage: dashboard.py BASE EMAIL PASSWORD ACCOUNT WORKER_TOKEN STOCK [SHOTS_DIR]
"""
import json, os, sys, time
from datetime import datetime
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser, request

base, email, password, account, worker, stock = sys.argv[1:7]
shots = sys.argv[7] if len(sys.argv) > 7 else None
report = {}
browser = Browser()
js = browser.evaluate
try:
    browser.sign_in(base, email, password)
    report["lang"] = js("document.documentElement.lang")
    report["firstContentfulPaintMs"] = browser.until(
        "(performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint') || {}).startTime", 5)
    report["ready"] = browser.until("document.body.dataset.ready === '1'")
    report["stream"] = browser.until("document.body.dataset.stream === 'open' && 'open'")
    report["candles"] = int(browser.until("Number(document.body.dataset.candles || 0)") or 0)
    report["chartCanvas"] = js("document.querySelectorAll('#chart-box canvas').length")
    js("window.__stayed = true")  # a reload or navigation would start a new window object

    # The rules shown before sending, then a price off the tick: the engine's refusal in words.
    js(f"""(() => {{ const f = document.getElementById('order-form');
        f.stockId.value = {json.dumps(stock)}; f.stockId.dispatchEvent(new Event('change'));
        f.side.value = 'BUY'; f.type.value = 'LIMIT'; f.quantity.value = '3'; }})()""")
    browser.until(f"document.getElementById('order-rules').dataset.stock === {json.dumps(stock)}")
    js("(() => { const f = document.getElementById('order-form'); f.price.value = '70010'; f.price.dispatchEvent(new Event('input')); })()")
    report["rulesOffTick"] = js("document.getElementById('order-rules').textContent")
    js("document.getElementById('order-send').click()")
    report["refusal"] = browser.until("document.querySelector('#order-result.error') && document.getElementById('order-result').textContent")

    # A valid order: accepted, and in the table without a reload.
    js("(() => { const f = document.getElementById('order-form'); f.price.value = '70000'; f.price.dispatchEvent(new Event('input')); })()")
    report["rules"] = js("document.getElementById('order-rules').textContent")
    js("document.getElementById('order-send').click()")
    order = browser.until("document.querySelector('#order-result.ok') && document.getElementById('order-result').dataset.order")
    report["placed"] = order
    report["inTable"] = browser.until(f"document.querySelector('#open-orders #order-{order}') !== null")

    # The worker's report of the broker's fill arrives; the page shows it live.
    status, answer = request(base, "POST", "/internal/commands", {"commands": [
        {"submitted": {"order": order}},
        {"accepted": {"order": order, "brokerOrderNumber": "0000123"}},
        {"fill": {"order": order, "quantity": 3, "price": 70000, "fillID": "F-browser-1"}},
    ]}, token=worker)
    report["fillRecorded"] = status
    report["filledLive"] = browser.until(f"(document.querySelector('#order-{order}') || {{dataset: {{}}}}).dataset.status === 'FILLED'")
    report["lastEvent"] = js("document.body.dataset.lastEvent")
    report["markers"] = int(browser.until("Number(document.body.dataset.markers || 0)") or 0)
    report["portfolioAfterFill"] = js("document.getElementById('portfolio').innerText")

    # Protective orders on the 3 shares: a stop-loss armed and cancelled, then a 2 % trailing stop that a
    # collected bar through its level fires live, placing its exit.
    def arm(kind, **fields):
        js(f"""(() => {{ const f = document.getElementById('trigger-form'); f.stockId.value = {json.dumps(stock)};
            f.kind.value = {json.dumps(kind)}; f.quantity.value = '3';
            for (const name of ['triggerPrice', 'trailPercent', 'limitPrice']) f[name].value = '';
            for (const [name, value] of Object.entries({json.dumps(fields)})) f[name].value = String(value);
            delete document.getElementById('trigger-result').dataset.trigger;
            document.getElementById('trigger-arm').click(); }})()""")
        return browser.until("document.getElementById('trigger-result').dataset.trigger")
    js("""(() => { const f = document.getElementById('trigger-form'); f.kind.value = 'STOP_LOSS';
        f.quantity.value = '99'; f.triggerPrice.value = '65000'; f.trailPercent.value = ''; f.limitPrice.value = '';
        document.getElementById('trigger-arm').click(); })()""")
    report["triggerRefused"] = browser.until("document.querySelector('#trigger-result.error') && document.getElementById('trigger-result').textContent")
    stop_id = arm("STOP_LOSS", triggerPrice=65000)
    report["stopArmed"] = browser.until(f"(document.querySelector('#trigger-{stop_id}') || {{dataset: {{}}}}).dataset.status === 'ARMED'")
    js(f"document.querySelector('button[data-cancel-trigger=\"{stop_id}\"]').click()")
    report["stopCancelled"] = browser.until(f"(document.querySelector('#trigger-{stop_id}') || {{dataset: {{}}}}).dataset.status === 'CANCELLED'")
    trail_id = arm("TRAILING_STOP", trailPercent=2)
    report["trailLevel"] = browser.until(f"document.querySelector('#trigger-{trail_id}') && document.querySelector('#trigger-{trail_id}').children[5].textContent")
    # The bar of the minute the trail was armed in, as the collector posts it once that minute ends, falls
    # through the level. (A trigger sees only bars that end after it was armed; the server's clock runs from
    # 10:00 KST at real speed, so on a slow run that minute is past 10:00: read it from the trigger.)
    _, session = request(base, "POST", "/api/auth/login", {"email": email, "password": password})
    _, triggers = request(base, "GET", "/api/triggers", token=session["token"])
    armed_at = next(t["armedAt"] for t in triggers["items"] if t["id"] == trail_id)
    minute = int(datetime.fromisoformat(armed_at).timestamp()) // 60 * 60 * 1_000_000
    report["trailArmedAt"] = armed_at
    status, _ = request(base, "POST", "/internal/candles", text=f"{stock},1m,{minute},70000,70000,60000,60000,5000\n", token=worker)
    report["barRecorded"] = status
    report["trailFired"] = browser.until(f"(document.querySelector('#trigger-{trail_id}') || {{dataset: {{}}}}).dataset.status === 'FIRED' && document.querySelector('#trigger-{trail_id} a').textContent")
    if report["trailFired"]:
        report["exitShown"] = browser.until(f"document.querySelector('#order-{report['trailFired']}') !== null")

    # A second order, cancelled from its row.
    js("(() => { const f = document.getElementById('order-form'); f.quantity.value = '1'; f.price.value = '69000'; })()")
    js("document.getElementById('order-send').click()")
    second = browser.until(f"(() => {{ const id = document.getElementById('order-result').dataset.order; return id !== {json.dumps(order)} && id; }})()")
    report["second"] = second
    browser.until(f"document.querySelector('button[data-cancel=\"{second}\"]') !== null")
    js(f"document.querySelector('button[data-cancel=\"{second}\"]').click()")
    report["cancelled"] = browser.until(f"(() => {{ const row = document.querySelector('#order-{second}'); return row && ['CANCELLED', 'CANCEL_REQUESTED'].includes(row.dataset.status) && row.dataset.status; }})()")

    # A strategy on with its parameters, then off.
    js(f"""(() => {{ const f = document.getElementById('strategy-form'); f.stockId.value = {json.dumps(stock)};
        f.strategy.value = 'ma-cross'; f.parameters.value = 'fast=3,slow=7,quantity=2';
        document.getElementById('strategy-enable').click(); }})()""")
    report["strategyOn"] = browser.until("document.querySelector('#strategy-list') && document.querySelector('#strategy-list').innerText")
    js("document.querySelector('button[data-disable-strategy]').click()")
    report["strategyOff"] = browser.until("document.querySelector('#strategy-list') === null")

    # A rule set written in the editor: a mistake's place selected, checked, saved, listed, chosen and enabled.
    js("""(() => { const f = document.getElementById('rules-form'); f.name.value = 'dip';
        f.source.value = 'entry: rsi_14 < 30\\nstop: 3%\\nsize: 10 shares!'; document.getElementById('rules-check').click(); })()""")
    report["ruleMistake"] = browser.until("document.querySelector('#rules-result.error') && document.getElementById('rules-result').textContent")
    report["ruleMistakeAt"] = js("(() => { const t = document.querySelector('#rules-form textarea'); return [t.selectionStart, t.value.slice(t.selectionStart, t.selectionStart + 1)]; })()")
    js("""(() => { const f = document.getElementById('rules-form');
        f.source.value = 'entry: rsi_14 < 30 and close > sma_20\\nstop: 3%\\ntarget: 6%\\nsize: 10 shares';
        document.getElementById('rules-check').click(); })()""")
    report["ruleChecked"] = browser.until("document.querySelector('#rules-result.ok') && document.getElementById('rules-result').textContent")
    js("document.getElementById('rules-save').click()")
    report["ruleSaved"] = browser.until("document.getElementById('rules-result').textContent.includes('v1') && document.getElementById('rules-result').textContent")
    report["ruleListed"] = browser.until("document.querySelector('#ruleset-dip') && document.querySelector('#ruleset-dip').innerText")
    js(f"""(() => {{ const f = document.getElementById('strategy-form'); f.stockId.value = {json.dumps(stock)};
        f.strategy.value = 'rule:dip'; f.parameters.value = ''; document.getElementById('strategy-enable').click(); }})()""")
    report["ruleEnabled"] = browser.until("document.querySelector('#strategy-list') && document.querySelector('#strategy-list').innerText.includes('rule:dip') && document.querySelector('#strategy-list').innerText")
    js("document.getElementById('rules-form').source.value = ''")
    js("document.querySelector('button[data-edit-rules=dip]').click()")
    report["ruleLoaded"] = browser.until("document.getElementById('rules-form').source.value")
    js("document.querySelector('button[data-disable-strategy]').click()")
    browser.until("document.querySelector('#strategy-list') === null")

    # The operator's panel: halt all trading (a prompt for the reason), then resume (a confirm).
    report["system"] = js("document.getElementById('system') && document.getElementById('system').innerText")
    if report["system"]:
        browser.dialog_answer = "점검 <b>중</b>"
        js("document.querySelector('button[data-trading=halt]').click()")
        report["tradingHalted"] = browser.until("document.querySelector('#trading-state.halted') && document.getElementById('trading-state').innerText")
        report["haltMarkup"] = js("document.querySelector('#trading-state b') !== null")
        browser.dialog_answer = "점검 끝"
        js("document.querySelector('button[data-trading=resume]').click()")
        report["tradingResumed"] = browser.until("document.querySelector('#trading-state.halted') === null")
        report["dialogs"] = browser.dialogs
    report["stayed"] = js("window.__stayed === true")
    report["escaped"] = js("document.querySelectorAll('main img, main script, main b, main iframe').length")
    report["notifications"] = js("document.getElementById('notifications').innerText")
    report["orders"] = js("document.getElementById('orders').innerText")
    if shots:
        js("window.scrollTo(0, 0)")
        time.sleep(0.5)
        browser.screenshot(os.path.join(shots, "dashboard.png"))

    # The operator's read-only view of the account: the same figures, no control.
    browser.navigate(f"{base}/operator/accounts/{account}")
    report["operatorView"] = {
        "heading": js("document.querySelector('#read-only h1') && document.querySelector('#read-only h1').textContent"),
        "portfolio": js("document.getElementById('portfolio') && document.getElementById('portfolio').innerText"),
        "controls": js("document.querySelectorAll('form.kill, button[data-cancel], button[data-resume], button[data-disable-strategy], #strategy-form, #order-form').length"),
        "resubmittable": js("[...document.querySelectorAll('button[data-resubmit]')].map(b => b.dataset.resubmit)"),
    }
    # The guide's manual re-order of the REJECTED order, from the operator's view (a confirm, then the new order).
    rejected = report["operatorView"]["resubmittable"][0] if report["operatorView"]["resubmittable"] else None
    if rejected:
        browser.dialog_answer = ""
        browser.until("document.body.dataset.ready === '1'")
        js(f"document.querySelector('button[data-resubmit=\"{rejected}\"]').click()")
        report["resubmitted"] = browser.until("document.getElementById('order-result').dataset.order")
        report["resubmittedShown"] = browser.until(f"document.querySelector('#order-{report['resubmitted']}') !== null")

    # The order's page: its events from the log, with offsets and the chain check.
    browser.navigate(f"{base}/orders/{order}")
    report["orderPage"] = {
        "events": js("[...document.querySelectorAll('#events li')].map(li => li.querySelector('code').textContent)"),
        "offsets": js("[...document.querySelectorAll('#events li')].map(li => Number(li.dataset.offset))"),
        "verified": js("document.querySelector('#verification.ok') !== null"),
        "text": js("document.getElementById('lifecycle').innerText.slice(0, 600)"),
    }
    if shots:
        browser.screenshot(os.path.join(shots, "order.png"))
    browser.navigate(f"{base}/orders/ord-0000099999")
    report["otherOrder"] = js("document.body.innerText.slice(0, 200)")

    # /docs: Swagger UI renders the API's operations.
    browser.navigate(f"{base}/docs")
    report["docsOperations"] = int(browser.until("document.querySelectorAll('.opblock').length", 20) or 0)
    if shots:
        browser.screenshot(os.path.join(shots, "docs.png"))
    # English on request.
    browser.navigate(f"{base}/?lang=en")
    report["english"] = js("document.documentElement.lang + ' ' + document.querySelector('#portfolio h2').textContent")
    print(json.dumps(report, ensure_ascii=False))
finally:
    browser.close()
