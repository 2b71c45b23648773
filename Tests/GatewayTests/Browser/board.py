#!/usr/bin/env python3
"""The queue board used as an operator would, in headless Chromium, printing what happened as JSON.

A notification's webhook is down (it answers 503), so its job fails for good after its
attempts; the operator sees the job's error on the board, brings the webhook up, presses retry and watches the
job complete. Then the notification queue is paused (a new job waits, untouched) and resumed (it completes), a
junk job carrying markup is shown as text and removed, and a trader who signs in to the board finds nothing.

Usage: board.py BASE BOARD WORKER_TOKEN WEBHOOK_PORT [SHOTS_DIR]
"""
import http.server, json, os, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser import Browser, request

base, board, worker, webhook_port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
shots = sys.argv[5] if len(sys.argv) > 5 else None
report = {"timeline": []}
started = time.time()


def mark(label):
    report["timeline"].append(f"{label} {time.time() - started:.1f}s")

password = "a long board password"


def register(email):
    status, session = request(base, "POST", "/api/auth/register", {"email": email, "password": password})
    if status != 201:
        sys.exit(f"register {email}: {status} {session}")
    return request(base, "GET", "/api/auth/me", token=session["token"])[1]["id"]


operator = register("operator@example.com")
trader = register("trader@example.com")
report["granted"] = request(base, "POST", "/internal/commands", {"commands": [
    {"grantOperator": {"user": operator, "by": "board-test"}},
    {"notify": {"user": operator, "kind": "SYSTEM", "title": "first", "message": "the webhook is down"}},
]}, token=worker)[0]

received = []
webhook_up = [False]


class Webhook(http.server.BaseHTTPRequestHandler):
    """The notifications' webhook: down (503) until the operator has seen the failure, then up."""
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if webhook_up[0]:
            received.append(body)
        self.send_response(200 if webhook_up[0] else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", webhook_port), Webhook)
threading.Thread(target=server.serve_forever, daemon=True).start()
browser = Browser()
js = browser.evaluate
try:
    # Signed out, the board asks for a sign-in; a trader signed in finds nothing.
    browser.sign_in(board, "trader@example.com", password)
    mark("trader")
    report["trader"] = js("document.body.innerText.slice(0, 200)")
    browser.call("Network.clearBrowserCookies")
    browser.sign_in(board, "operator@example.com", password)
    mark("operator")
    report["signedIn"] = js("document.getElementById('queues') !== null")

    # The failed job, with its error, once its attempts are used up.
    failed_list = board + "/?queue=notification&state=failed"
    deadline = time.time() + 60
    job = None
    while time.time() < deadline:
        browser.navigate(failed_list)
        job = js("(document.querySelector('#job-list tr[id^=job-]') || {id: ''}).id.slice(4)")
        if job:
            break
        time.sleep(0.5)
    mark("failed")
    report["failedJob"] = job
    report["failedError"] = js("(document.querySelector('.job-error') || {}).textContent")
    report["failedAttempts"] = js(f"document.getElementById('job-{job}') && document.getElementById('job-{job}').children[1].textContent")
    report["failedCount"] = js("document.querySelector('#queue-notification a[data-count=failed]').textContent")

    # The webhook comes back; retry, and the job completes.
    webhook_up[0] = True
    js(f"document.querySelector('#job-{job} button.retry').click()")
    browser.wait_for_load()
    deadline = time.time() + 30
    completed = False
    while time.time() < deadline and not completed:
        browser.navigate(board + "/?queue=notification&state=completed")
        completed = js(f"document.getElementById('job-{job}') !== null")
        if not completed:
            time.sleep(0.3)
    mark("retried")
    report["retriedCompleted"] = completed
    report["webhookTitles"] = [body.get("title") for body in received]

    # Pause: a new job waits untouched; resume: it completes.
    browser.navigate(board + "/?queue=notification&state=wait")
    js("document.querySelector('#queue-notification button[value=pause]').click()")
    browser.wait_for_load()
    report["paused"] = js("document.getElementById('paused-notification') !== null")
    request(base, "POST", "/internal/commands", {"commands": [
        {"notify": {"user": operator, "kind": "SYSTEM", "title": "second", "message": "while paused"}}]}, token=worker)
    time.sleep(2.5)
    browser.navigate(board + "/?queue=notification&state=wait")
    mark("paused")
    report["waitingWhilePaused"] = js("document.querySelectorAll('#job-list tr[id^=job-]').length")
    report["webhookWhilePaused"] = len(received)
    js("document.querySelector('#queue-notification button[value=resume]').click()")
    browser.wait_for_load()
    deadline = time.time() + 20
    while time.time() < deadline and len(received) < 2:
        time.sleep(0.2)
    mark("resumed")
    report["webhookAfterResume"] = [body.get("title") for body in received]
    browser.navigate(board + "/?queue=notification&state=completed")
    report["completedCount"] = js("document.querySelector('#queue-notification a[data-count=completed]').textContent")
    report["workers"] = js("document.getElementById('workers').innerText")

    # A job made of markup (added to Redis by the test) shows as text and can be removed.
    browser.navigate(board + "/?queue=data-analysis&state=wait")
    report["junkShown"] = js("document.getElementById('jobs').innerText")
    report["markupElements"] = js("document.querySelectorAll('main b, main script, main img').length")
    if shots:
        browser.navigate(board + "/?queue=notification&state=completed")
        browser.screenshot(os.path.join(shots, "board.png"))
        browser.navigate(board + "/?queue=data-analysis&state=wait")
    js("document.querySelector('#job-list button.remove').click()")
    browser.wait_for_load()
    mark("removed")
    report["junkAfterRemove"] = js("document.querySelectorAll('#job-list tr[id^=job-]').length")

    # A state change without the page's CSRF token and origin (a forged form) is refused.
    status, _ = request(board, "POST", "/queues/action", text="queue=notification&action=pause")
    report["forged"] = status
    print(json.dumps(report, ensure_ascii=False))
finally:
    browser.close()
