#!/usr/bin/env python3
"""Signs in to the dashboard with headless Chromium (Debian's) over the DevTools protocol, like a person:
open /, fill the form, press the button, and print what the browser then shows as JSON:
{"signin": bool, "title": str, "portfolio": str|null, "sections": [ids], "chart": bool}.
With ACCOUNT, it then presses that account's kill switch as a person would: first without ticking the
confirmation box (the browser must refuse to send the form), then ticked, reports what the page shows, and
resumes the account with its button (answering the confirm).

Usage: sign_in.py BASE_URL EMAIL PASSWORD [ACCOUNT]
Needs: chromium (Debian), websocket-client (PyPI; installed by scripts/setup.sh).
"""
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser

base, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
account = sys.argv[4] if len(sys.argv) > 4 else None
browser = Browser()
evaluate = browser.evaluate
wait_for_load = browser.wait_for_load
try:
    signin = True
    browser.sign_in(base, email, password)
    kill = {}
    if account:
        button = f"document.querySelector('#kill-{account}')"
        kill["button"] = evaluate(f"{button} !== null")
        # Unticked: the form's `required` box stops the submission; the page stays, nothing is halted.
        evaluate("window.__stayed = true")  # a navigation (a sent form) would start a new window object
        evaluate(f"{button}.click()")
        time.sleep(1)
        kill["stayedWithoutConfirm"] = evaluate("window.__stayed === true")
        kill["haltedWithoutConfirm"] = evaluate(f"document.querySelector('#halted-{account}') !== null")
        evaluate(f"{button}.form.querySelector('input[name=confirm]').checked = true")
        evaluate(f"{button}.click()")
        wait_for_load()
        deadline = time.time() + 10
        while time.time() < deadline and not evaluate(f"document.querySelector('#halted-{account}') !== null"):
            time.sleep(0.1)
        kill["halted"] = evaluate(f"document.querySelector('#halted-{account}') && document.querySelector('#halted-{account}').innerText")
        kill["buttonAfter"] = evaluate(f"{button} !== null")
        # Resume from the page: a confirm, the reconciliation (a simulated account agrees), the switch is back.
        browser.until("document.body.dataset.ready === '1'")
        evaluate(f"document.querySelector('button[data-resume=\"{account}\"]').click()")
        kill["resumed"] = browser.until(f"document.querySelector('#halted-{account}') === null && {button} !== null")
        kill["dialogs"] = browser.dialogs
    print(json.dumps({
        "kill": kill,
        "signin": signin,
        "signinAgain": evaluate("document.querySelector('#signin') !== null"),
        "title": evaluate("document.title"),
        "portfolio": evaluate("document.querySelector('#portfolio') && document.querySelector('#portfolio').innerText"),
        "sections": evaluate("[...document.querySelectorAll('section')].map(s => s.id)"),
        "chart": evaluate("document.querySelector('#chart-box canvas') !== null"),
        "lang": evaluate("document.documentElement.lang"),
        "system": evaluate("document.querySelector('#system') && document.querySelector('#system').innerText"),
        "cookieVisibleToScript": evaluate("document.cookie.includes('sb_session')"),
    }))
finally:
    browser.close()
