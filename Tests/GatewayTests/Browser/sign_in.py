#!/usr/bin/env python3
"""Signs in to the dashboard with headless Chromium (Debian's) over the DevTools protocol, like a person:
open /, fill the form, press the button, and print what the browser then shows as JSON:
{"signin": bool, "title": str, "portfolio": str|null, "sections": [ids], "chart": bool}.
With ACCOUNT, it then presses that account's kill switch as a person would: first without ticking the
confirmation box (the browser must refuse to send the form), then ticked, and reports what the page shows.

Usage: sign_in.py BASE_URL EMAIL PASSWORD [ACCOUNT]
Needs: chromium (Debian), websocket-client (PyPI; installed by scripts/setup.sh).
"""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.request
import websocket

base, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
account = sys.argv[4] if len(sys.argv) > 4 else None
profile = tempfile.mkdtemp(prefix="sb-chromium-")
browser = subprocess.Popen(
    [shutil.which("chromium") or "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
     "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 30
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        if time.time() > deadline or browser.poll() is not None:
            sys.exit("chromium did not start its DevTools endpoint")
        time.sleep(0.1)
    port = int(open(port_file).read().split()[0])
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
    page = next(t for t in targets if t["type"] == "page")
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
    counter = [0]

    def call(method, **params):
        counter[0] += 1
        ws.send(json.dumps({"id": counter[0], "method": method, "params": params}))
        while True:
            message = json.loads(ws.recv())
            if message.get("id") == counter[0]:
                if "error" in message:
                    sys.exit(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for_load():
        while True:
            message = json.loads(ws.recv())
            if message.get("method") == "Page.loadEventFired":
                return

    def evaluate(expression):
        return call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    call("Page.enable")
    call("Page.navigate", url=base + "/")
    wait_for_load()
    signin = evaluate("document.querySelector('#signin form') !== null")
    if not signin:
        sys.exit("the page at / has no sign-in form: " + str(evaluate("document.body.innerText.slice(0, 300)")))
    # Type into the fields and press the button (a real form submission: POST /login, cookie, redirect to /).
    evaluate(f"""(() => {{
        document.querySelector('input[name=email]').value = {json.dumps(email)};
        document.querySelector('input[name=password]').value = {json.dumps(password)};
        document.querySelector('#signin-button').click();
    }})()""")
    wait_for_load()
    # The answer to the POST (the redirect to /, or the form again with an error) has loaded; give its body up
    # to 10 s to show either the portfolio or the sign-in form.
    deadline = time.time() + 10
    while time.time() < deadline and not evaluate("document.querySelector('#portfolio, #signin') !== null"):
        time.sleep(0.1)
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
    print(json.dumps({
        "kill": kill,
        "signin": signin,
        "signinAgain": evaluate("document.querySelector('#signin') !== null"),
        "title": evaluate("document.title"),
        "portfolio": evaluate("document.querySelector('#portfolio') && document.querySelector('#portfolio').innerText"),
        "sections": evaluate("[...document.querySelectorAll('section')].map(s => s.id)"),
        "chart": evaluate("document.querySelector('#chart svg') !== null"),
        "system": evaluate("document.querySelector('#system') && document.querySelector('#system').innerText"),
        "cookieVisibleToScript": evaluate("document.cookie.includes('sb_session')"),
    }))
finally:
    browser.terminate()
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        browser.kill()
    shutil.rmtree(profile, ignore_errors=True)
