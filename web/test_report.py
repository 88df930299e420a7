#!/usr/bin/env python3
"""Report test: opens the page of `flopwatt compare --html` from disk in headless Chromium
through chromedriver's W3C WebDriver HTTP API (standard library only), with every network
request sent to a dead proxy, and checks that the comparison table, the roofline chart (a
point per workload and device) and the GFLOP/J bars are there and drawn, and that the page
loaded nothing from elsewhere. Saves a screenshot.

Usage: web/test_report.py REPORT.html [--rows N] [--files N] [--screenshot out.png]
Needs: chromium + chromedriver (CHROMEDRIVER, default /usr/bin/chromedriver).
"""
import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"{}").get("value")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--rows", type=int, default=1, help="least workload rows expected")
    ap.add_argument("--files", type=int, default=2, help="result files compared")
    ap.add_argument("--screenshot",
                    default=os.path.join(tempfile.gettempdir(), "flopwatt-report.png"))
    args = ap.parse_args()
    page = os.path.abspath(args.report)
    if not os.path.exists(page):
        sys.exit(f"{page} is missing: run flopwatt compare --html first")

    wd_port = free_port()
    driver = subprocess.Popen(
        [os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), f"--port={wd_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{wd_port}"
    profile = tempfile.mkdtemp(prefix="flopwatt-report-")
    session = None
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        # A proxy nobody listens on: anything the page fetched from a network would fail
        # and show up below as a resource entry.
        dead = free_port()
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": [
            "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
            "--disable-background-networking", f"--proxy-server=127.0.0.1:{dead}",
            f"--user-data-dir={profile}", "--window-size=1200,1600"]}}}}
        session = call(base, "POST", "/session", caps)["sessionId"]
        s = f"/session/{session}"
        call(base, "POST", s + "/url", {"url": "file://" + page})

        def js(script, *a):
            return call(base, "POST", s + "/execute/sync", {"script": script, "args": list(a)})

        facts = js("""
            const box = sel => { const e = document.querySelector(sel);
                                 if (!e) return [0, 0];
                                 const r = e.getBoundingClientRect(); return [r.width, r.height]; };
            return {
              ready: document.readyState,
              rows: document.querySelectorAll('#compare tbody tr').length,
              files: document.querySelectorAll('#files tbody tr').length,
              roofline: document.querySelectorAll('#roofline svg').length,
              roofline_box: box('#roofline svg'),
              points: document.querySelectorAll('#roofline svg circle').length,
              energy: document.querySelectorAll('#energy svg').length,
              energy_box: box('#energy svg'),
              bars: document.querySelectorAll('#energy svg rect').length,
              resources: performance.getEntriesByType('resource').map(e => e.name),
              scripts: document.querySelectorAll('script[src], link[href], img[src]').length,
            };""")
        png = call(base, "GET", s + "/screenshot")
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(png))
        print(f"report page: {json.dumps(facts)}")
        print(f"screenshot: {args.screenshot}")
        problems = []
        if facts["rows"] < args.rows:
            problems.append(f"{facts['rows']} table rows, expected at least {args.rows}")
        if facts["files"] != args.files:
            problems.append(f"{facts['files']} files listed, expected {args.files}")
        if facts["roofline"] != 1 or min(facts["roofline_box"]) < 100:
            problems.append(f"roofline not drawn: {facts['roofline']} svg, box {facts['roofline_box']}")
        if facts["points"] < args.rows * args.files:
            problems.append(f"{facts['points']} roofline points, expected {args.rows * args.files}")
        if facts["energy"] != 1 or min(facts["energy_box"]) < 100:
            problems.append(f"energy bars not drawn: {facts['energy']} svg, box {facts['energy_box']}")
        if facts["bars"] < 1 + args.rows * args.files:
            problems.append(f"{facts['bars']} rects in the energy chart, expected a bar per row and file")
        if facts["resources"] or facts["scripts"]:
            problems.append(f"the page loads from elsewhere: {facts['resources']}")
        if problems:
            sys.exit("report test FAILED: " + "; ".join(problems))
        print(f"report test: {facts['rows']} rows, {facts['points']} points, {facts['bars']} rects")
    finally:
        if session:
            try:
                call(base, "DELETE", f"/session/{session}")
            except OSError:
                pass
        driver.terminate()


if __name__ == "__main__":
    main()
