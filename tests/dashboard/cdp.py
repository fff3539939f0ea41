# SPDX-License-Identifier: BSD-3-Clause
"""A few Chrome DevTools Protocol calls over tornado's websocket client: open a page in headless
Chromium, wait until Bokeh has rendered it, read data from the page, save a PNG.

``chromium --screenshot`` shoots at the load event, before the dashboard's Bokeh documents
arrive over their websocket, so the test drives the browser instead.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import subprocess
import time
import urllib.request

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--remote-allow-origins=*"]


class Browser:
    """Headless Chromium with a DevTools port; use as a context manager."""

    def __init__(self, exe, user_data_dir, size=(1600, 1000)):
        self.size = size
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-port=0",
                                      f"--window-size={size[0]},{size[1]}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        t0 = time.time()
        while time.time() - t0 < 60:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                break
            if not line and self.proc.poll() is not None:
                break
        if self.port is None:
            self.close()
            raise RuntimeError("chromium did not open a DevTools port")
        self._ids = itertools.count(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def _page_ws(self):
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=30).read())
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def visit(self, url, ready_js, timeout=60, settle=2.0, extract_js=None, png=None):
        """Open ``url``, wait until ``ready_js`` is truthy, then return ``extract_js``'s value and save ``png``."""
        return asyncio.run(self._visit(url, ready_js, timeout, settle, extract_js, png))

    async def _visit(self, url, ready_js, timeout, settle, extract_js, png):
        from tornado.websocket import websocket_connect

        ws = await websocket_connect(self._page_ws(), max_message_size=256 * 2**20)

        async def call(method, **params):
            i = next(self._ids)
            await ws.write_message(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                msg = json.loads(await ws.read_message())
                if msg.get("id") == i:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg["result"]

        async def evaluate(expr):
            r = await call("Runtime.evaluate", expression=expr, returnByValue=True)
            return r.get("result", {}).get("value")

        try:
            await call("Emulation.setDeviceMetricsOverride", width=self.size[0], height=self.size[1],
                       deviceScaleFactor=1, mobile=False)
            await call("Page.navigate", url=url)
            t0 = time.time()
            while not await evaluate(ready_js):
                if time.time() - t0 > timeout:
                    raise TimeoutError(f"{url}: page not ready after {timeout} s ({ready_js})")
                await asyncio.sleep(0.25)
            await asyncio.sleep(settle)
            value = await evaluate(extract_js) if extract_js else None
            if png is not None:
                shot = await call("Page.captureScreenshot", format="png")
                with open(png, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
            return value
        finally:
            ws.close()
