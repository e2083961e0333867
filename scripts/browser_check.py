"""Open every page of a built book in headless Chromium and check that it works with no network.

The script serves the HTML folder on 127.0.0.1, opens each page through the
Chrome DevTools Protocol, and checks that:

* no request failed and no response had an HTTP error status,
* every request went to the local server,
* every image finished loading with a non-zero size,
* the math rendered: each page whose HTML contains TeX delimiters or a
  ``math`` class contains MathJax output (``mjx-container`` elements) and no
  MathJax error.

It saves a PNG screenshot of each page and exits with status 1 listing every
problem. Chromium (seen with Debian's 156) contacts outside hosts on its own
even with its background-network flags off. So run this script only inside a
network namespace that has nothing but loopback, as the test does. That needs
root, because ``unshare -n`` needs CAP_SYS_ADMIN:
``unshare -n sh -c 'ip link set lo up && python scripts/browser_check.py HTML SHOTS'``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import websocket  # websocket-client

PAGE_TIMEOUT_S = 60
SETTLE_S = 1.0


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=PAGE_TIMEOUT_S, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        self.socket.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    self.events.append(json.loads(self.socket.recv()))
                except websocket.WebSocketTimeoutException:
                    continue
        finally:
            self.socket.settimeout(PAGE_TIMEOUT_S)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``folder`` on 127.0.0.1 at a free port; return the server and its base URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def start_chromium(profile: Path) -> tuple[subprocess.Popen, str]:
    """Start headless Chromium with a DevTools port; return the process and the port's base URL."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("chromium not found; install Debian's chromium package (apt-get install chromium)")
    process = subprocess.Popen(
        [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", "--window-size=1280,2000", "about:blank",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.is_file() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("chromium did not open its DevTools port within 30 s")
        time.sleep(0.1)
    port = port_file.read_text().splitlines()[0]
    return process, f"http://127.0.0.1:{port}"


def new_page(devtools_base: str) -> str:
    """Open a blank tab and return its DevTools websocket URL."""
    import urllib.request

    request = urllib.request.Request(f"{devtools_base}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["webSocketDebuggerUrl"]


IMAGES_JS = """Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"""
MATH_JS = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  return {
    containers: document.querySelectorAll('mjx-container').length,
    errors: document.querySelectorAll('mjx-merror, .MathJax_Error').length,
    loaded: !!(window.MathJax && MathJax.version),
  };
})()"""


def check_page(devtools: DevTools, url: str, base: str, source_has_math: bool, shot: Path) -> list[str]:
    """Load ``url`` and return its problems; save a screenshot to ``shot``."""
    devtools.events.clear()
    devtools.call("Page.navigate", url=url)
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while not any(e.get("method") == "Page.loadEventFired" for e in devtools.events):
        if time.monotonic() > deadline:
            return [f"{url}: did not finish loading in {PAGE_TIMEOUT_S} s"]
        devtools.drain(0.2)
    devtools.drain(SETTLE_S)

    problems = []
    requested = {}
    for event in devtools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            requested[params["requestId"]] = params["request"]["url"]
            target = urlparse(params["request"]["url"])
            if target.scheme in ("http", "https", "ws", "wss") and not params["request"]["url"].startswith(base):
                problems.append(f"{url}: request to an outside host: {params['request']['url']}")
        elif method == "Network.loadingFailed":
            failed = requested.get(params["requestId"], params["requestId"])
            problems.append(f"{url}: request failed ({params.get('errorText')}): {failed}")
        elif (
            method == "Network.responseReceived"
            and params["response"]["status"] >= 400
            # Chromium requests /favicon.ico from every new host on its own; no page links it.
            and not params["response"]["url"].endswith("/favicon.ico")
        ):
            problems.append(f"{url}: HTTP {params['response']['status']} for {params['response']['url']}")

    for broken in devtools.evaluate(IMAGES_JS) or []:
        problems.append(f"{url}: image did not load: {broken}")
    if source_has_math:
        math = devtools.evaluate(MATH_JS) or {}
        if not math.get("loaded"):
            problems.append(f"{url}: MathJax did not load")
        elif not math.get("containers"):
            problems.append(f"{url}: the page has TeX but MathJax rendered none of it")
        if math.get("errors"):
            problems.append(f"{url}: MathJax reported {math['errors']} errors")

    picture = devtools.call("Page.captureScreenshot", format="png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(base64.b64decode(picture["data"]))
    return problems


def has_math(html: str) -> bool:
    return "\\(" in html or "\\[" in html or 'class="math' in html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a built book's pages in headless Chromium, offline.")
    parser.add_argument("html", type=Path, help="the built HTML folder, e.g. _build/html")
    parser.add_argument("screenshots", type=Path, help="folder for one PNG per page")
    args = parser.parse_args(argv)

    pages = sorted(p for p in args.html.rglob("*.html") if not {"_static", "vendor", "_sources"} & set(p.relative_to(args.html).parts)
                   and p.name not in {"genindex.html", "search.html"})
    server, base = serve(args.html)
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    process, devtools_base = start_chromium(profile)
    problems: list[str] = []
    try:
        devtools = DevTools(new_page(devtools_base))
        devtools.call("Network.enable")
        devtools.call("Page.enable")
        for page in pages:
            relative = page.relative_to(args.html).as_posix()
            shot = args.screenshots / (relative.replace("/", "__").removesuffix(".html") + ".png")
            found = check_page(devtools, f"{base}/{relative}", base, has_math(page.read_text(encoding="utf-8")), shot)
            print(f"{relative}: {'ok' if not found else f'{len(found)} problems'}; screenshot {shot}", flush=True)
            problems += found
    finally:
        process.kill()
        process.wait()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    if problems:
        print("\n".join(["", "Problems:", *problems]), file=sys.stderr)
        return 1
    print(f"{len(pages)} pages loaded with no failed request, every image and their math rendered")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    sys.exit(main())
