"""A real headless Chromium driven over the DevTools protocol (aiohttp's websocket client): what a person sees.

``async with Browser() as browser: page = await browser.open(url)`` starts Debian's ``chromium`` with a fresh
profile, attaches to a new tab and records its console messages, exceptions, log entries (CSP violations land
there), JavaScript dialogs and network requests. The browser process is killed and reaped on exit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root here
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.console: list[dict[str, Any]] = []
        self.exceptions: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.loaded = asyncio.Event()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, session=self.session)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            self.console.append(params)
        elif method == "Runtime.exceptionThrown":
            self.exceptions.append(params)
        elif method == "Log.entryAdded":
            self.log.append(params["entry"])
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params.get("message", ""))
            self.browser.spawn(self.send("Page.handleJavaScriptDialog", accept=False))
        elif method == "Page.loadEventFired":
            self.loaded.set()

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries, as text."""
        found = [json.dumps(c.get("args"))[:300] for c in self.console if c.get("type") in ("error", "assert")]
        found += [json.dumps(e.get("exceptionDetails"))[:300] for e in self.exceptions]
        found += [f"{e.get('source')}: {e.get('text')}" for e in self.log if e.get("level") == "error"]
        return found

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Poll ``expression`` until it is truthy (the page's own condition, not a sleep)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: Path, width: int = 1400) -> Path:
        height = int(await self.evaluate("document.documentElement.scrollHeight"))
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=min(height, 4000),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Browser:
    def __init__(self) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="lodestar-chromium-")
        self.process: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pages: dict[str, Page] = {}
        self.next_id = 0
        self.reader: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Future[Any]] = set()

    async def __aenter__(self) -> Browser:
        assert CHROMIUM is not None
        self.process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={self.profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: the renderers and helpers go with it
        )
        url = await asyncio.wait_for(self._devtools_url(), 30)
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        self.reader = asyncio.create_task(self._read())
        return self

    async def _devtools_url(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        while True:
            line = await self.process.stderr.readline()
            if not line:
                raise RuntimeError("chromium exited before it listened")
            match = re.search(rb"DevTools listening on (ws://\S+)", line)
            if match:
                return match.group(1).decode()

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.pending:
                future = self.pending.pop(data["id"])
                if not future.done():
                    future.set_result(data)
            elif "method" in data:
                page = self.pages.get(data.get("sessionId", ""))
                if page is not None:
                    page.on_event(data["method"], data.get("params", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        assert self.ws is not None
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def spawn(self, work: Any) -> None:
        """Run a command from an event handler (the reader must not wait on its own replies); kept until done."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def open(self, url: str) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        self.pages[page.session] = page
        for domain in ("Runtime", "Log", "Network", "Page"):
            await page.send(f"{domain}.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False
        )
        page.loaded.clear()
        await page.send("Page.navigate", url=url)
        await asyncio.wait_for(page.loaded.wait(), 30)
        return page

    async def __aexit__(self, *exc: object) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this browser started, by its id
            except ProcessLookupError:
                pass
            await self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
