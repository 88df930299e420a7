#!/usr/bin/env python3
"""Page test: serves web/ on 127.0.0.1, drives headless Chromium through chromedriver's W3C
WebDriver HTTP API (standard library only, no browser download), clicks Run, waits for the
table, and checks that every row is verified. Saves a screenshot.

Usage: web/test_page.py [--filter sum,chain] [--min-ms 0] [--screenshot out.png]
Needs: chromium + chromedriver (CHROMEDRIVER, default /usr/bin/chromedriver), web/pkg built
by web/build.sh.
"""
import argparse
import base64
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript"}

    def log_message(self, *args):
        pass


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"{}").get("value")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", default="")
    ap.add_argument("--min-ms", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=1500, help="seconds for the whole suite")
    ap.add_argument("--screenshot", default=os.path.join(tempfile.gettempdir(), "flopwatt-page.png"))
    args = ap.parse_args()

    if not os.path.exists(os.path.join(HERE, "pkg", "flopwatt.js")):
        sys.exit("web/pkg is missing: run web/build.sh first")

    http_port = free_port()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", http_port), functools.partial(Quiet, directory=HERE))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    wd_port = free_port()
    driver = subprocess.Popen(
        [os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), f"--port={wd_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{wd_port}"
    profile = tempfile.mkdtemp(prefix="flopwatt-page-")
    session = None
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": [
            "--headless=new", "--no-sandbox", "--enable-unsafe-webgpu",
            "--disable-background-networking", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--window-size=1200,1400"]}}}}
        session = call(base, "POST", "/session", caps)["sessionId"]
        s = f"/session/{session}"
        call(base, "POST", s + "/timeouts", {"script": args.timeout * 1000})
        query = f"?filter={args.filter}&min_ms={args.min_ms}"
        call(base, "POST", s + "/url", {"url": f"http://127.0.0.1:{http_port}/index.html{query}"})

        def js(script, *a):
            return call(base, "POST", s + "/execute/sync", {"script": script, "args": list(a)})

        deadline = time.time() + 120
        while js("return document.getElementById('run').disabled"):
            if time.time() > deadline:
                sys.exit("page never became ready: " + js("return document.getElementById('status').textContent"))
            time.sleep(0.5)
        button = call(base, "POST", s + "/element",
                      {"using": "css selector", "value": "#run"})
        button_id = next(iter(button.values()))
        call(base, "POST", f"{s}/element/{button_id}/click", {})
        deadline = time.time() + args.timeout
        while js("return document.body.dataset.state") != "done":
            if time.time() > deadline:
                sys.exit("suite did not finish in time")
            time.sleep(2)
        rows = js("""return [...document.querySelectorAll('#results tbody tr')].map(
            tr => [...tr.children].map(td => td.textContent))""")
        status = js("return document.getElementById('status').textContent")
        tier = js("return document.getElementById('tier').textContent")
        svg = js("return document.querySelectorAll('#roofline svg').length")
        png = call(base, "GET", s + "/screenshot")
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(png))
        print(f"page: {status}; timing: {tier}")
        for r in rows:
            print("  " + " | ".join(r))
        print(f"screenshot: {args.screenshot}")
        bad = [r for r in rows if r[-1] != "yes"]
        if not rows or bad or svg != 1:
            sys.exit(f"page test FAILED: {len(rows)} rows, {len(bad)} unverified, {svg} roofline svg")
        print(f"page test: {len(rows)} verified rows")
    finally:
        if session:
            try:
                call(base, "DELETE", f"/session/{session}")
            except OSError:
                pass
        driver.terminate()
        server.shutdown()


if __name__ == "__main__":
    main()
