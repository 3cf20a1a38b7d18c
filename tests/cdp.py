"""A small Chrome DevTools Protocol client: headless Chromium (Debian's package, `make browser`) driven over its
websocket to log in, open a page, wait for it to settle, take a screenshot and ask which fonts drew its text."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import websockets

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-quic", "--hide-scrollbars",
         "--mute-audio", "--disable-default-apps", "--remote-debugging-port=0")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("GOVREPORTS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Browser:
    """One headless Chromium with a fresh profile; `page()` gives a CDP session on its first tab."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1600, 1200), env: dict[str, str] | None = None) -> None:
        binary = chromium_path()
        if binary is None:
            raise RuntimeError("Chromium not found: `make browser` installs Debian's chromium")
        profile.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "HOME": str(profile), **(env or {})})
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        self.port = int(port_file.read_text().splitlines()[0])

    def page_ws(self) -> str:
        import httpx

        for target in httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=10).json():
            if target["type"] == "page":
                return target["webSocketDebuggerUrl"]
        raise RuntimeError("no page target")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Page:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        mid = next(self.ids)
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=120))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 90.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.5)
        raise TimeoutError(f"page never satisfied: {expression}")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def open_page(browser: Browser) -> tuple[Any, Page]:
    ws = await websockets.connect(browser.page_ws(), max_size=64 * 1024 * 1024)
    page = Page(ws)
    await page.call("Page.enable")
    await page.call("Runtime.enable")
    await page.call("DOM.enable")
    await page.call("CSS.enable")
    return ws, page
