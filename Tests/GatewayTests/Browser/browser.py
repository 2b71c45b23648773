"""Headless Chromium (Debian's) driven over the DevTools protocol: the shared part of the browser tests.
Needs: chromium (Debian), websocket-client (PyPI; installed by scripts/setup.sh)."""
import base64, json, os, shutil, subprocess, sys, tempfile, time, urllib.request
import websocket


class Browser:
    def __init__(self, width=1400, height=1000):
        self.profile = tempfile.mkdtemp(prefix="sb-chromium-")
        self.process = subprocess.Popen(
            [shutil.which("chromium") or "/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0", "--lang=ko-KR",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or self.process.poll() is not None:
                self.close()
                sys.exit("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.counter = 0
        self.events = []
        # What a confirm() or prompt() the page opens is answered with (None: dismissed).
        self.dialog_answer = ""
        self.dialogs = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _handle(self, message):
        if message.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(message["params"].get("message"))
            self.counter += 1
            answer = {"accept": self.dialog_answer is not None}
            if self.dialog_answer:
                answer["promptText"] = self.dialog_answer
            self.ws.send(json.dumps({"id": self.counter, "method": "Page.handleJavaScriptDialog", "params": answer}))
        elif "method" in message:
            self.events.append(message)

    def call(self, method, **params):
        self.counter += 1
        wanted = self.counter
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == wanted:
                if "error" in message:
                    sys.exit(f"{method}: {message['error']}")
                return message.get("result", {})
            self._handle(message)

    def wait_for_load(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for index, event in enumerate(self.events):
                if event.get("method") == "Page.loadEventFired":
                    del self.events[: index + 1]
                    return
            self.events.clear()
            self._handle(json.loads(self.ws.recv()))
        sys.exit("the page did not load")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            return {"exception": result["exceptionDetails"].get("text")}
        return result["result"].get("value")

    def navigate(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for_load()

    def until(self, expression, timeout=15):
        """Polls `expression` until it is truthy; returns its last value."""
        deadline = time.time() + timeout
        value = None
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        return value

    def screenshot(self, path):
        height = self.evaluate("Math.min(document.documentElement.scrollHeight, 4000)") or 1000
        width = self.evaluate("document.documentElement.clientWidth") or 1400
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def sign_in(self, base, email, password):
        self.navigate(base + "/")
        if not self.evaluate("document.querySelector('#signin form') !== null"):
            sys.exit("the page at / has no sign-in form: " + str(self.evaluate("document.body.innerText.slice(0, 300)")))
        self.evaluate(f"""(() => {{
            document.querySelector('input[name=email]').value = {json.dumps(email)};
            document.querySelector('input[name=password]').value = {json.dumps(password)};
            document.querySelector('#signin-button').click();
        }})()""")
        self.wait_for_load()
        self.until("document.querySelector('#portfolio, #signin, #queues, pre') !== null", 10)

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def request(base, method, path, payload=None, token=None, text=None):
    """A JSON (or text) request outside the browser, as the worker or an API client makes it."""
    data = json.dumps(payload).encode() if payload is not None else (text.encode() if text is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if payload is not None:
        req.add_header("Content-Type", "application/json")
    if text is not None:
        req.add_header("Content-Type", "text/csv")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            body = response.read().decode()
            return response.status, (json.loads(body) if body.startswith(("{", "[")) else body)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
