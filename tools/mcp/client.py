"""One connection to one MCP server (the official SDK's ``Client``), owned by a background task.

Why a task: the SDK's transports are anyio context managers that must be entered and left in one task, while
Lodestar's calls come from whichever task runs a question. The owner task opens the client, lists the tools,
then waits to be told to stop; callers use the open session meanwhile. Leaving the context stops a stdio server
(stdin closed, then SIGTERM/SIGKILL to its process group) or ends the HTTP session; a connection that broke (the
server died) is closed and started afresh on its next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from agent.core.config import McpServerSettings, expand_env
from agent.core.errors import LodestarError, ToolError
from agent.core.secrets import redact

OWNER_ENV = "LODESTAR_MCP_OWNER"  # set in each stdio server's environment: lets the exit hook find strays
RETRY_AFTER_S = 30.0  # a server that failed to start is not tried again sooner (each try may cost timeout_s)
STOP_GRACE_S = 10.0  # the SDK's own shutdown escalates within ~6 s (2 s stdin close, 2 s TERM, 2 s KILL)


class McpUnavailable(LodestarError):
    """A server could not be started or reached, or its connection broke."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    detail = " ".join(str(exc).split())[:240]
    return redact(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


class McpConnection:
    def __init__(self, name: str, settings: McpServerSettings, log_path: Path | None = None) -> None:
        self.name = name
        self.settings = settings
        self.log_path = log_path  # a stdio server's stderr goes here (never onto our terminal or the TUI)
        self.tools: list[Any] = []  # mcp_types.Tool, as listed
        self.error: str | None = None
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None  # when start-up last failed

    @property
    def status(self) -> str:
        if self._client is not None:
            return "running"
        return "failed" if self.error else "stopped"

    def _stdio(self, stack: contextlib.ExitStack) -> Any:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        key = f"mcp.servers.{self.name}"
        env = {k: expand_env(v, f"{key}.env.{k}") for k, v in self.settings.env.items()}
        env[OWNER_ENV] = str(os.getpid())
        assert self.settings.command is not None
        params = StdioServerParameters(
            command=self.settings.command, args=list(self.settings.args), env=env, cwd=self.settings.cwd
        )
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            errlog = stack.enter_context(self.log_path.open("a", encoding="utf-8"))
        else:
            errlog = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (closed by stack)
        return stdio_client(params, errlog=errlog)

    def _http_client(self) -> Any:
        """The HTTP transport with the configured headers (``${VAR}`` expanded now, never stored expanded)."""
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        key = f"mcp.servers.{self.name}.headers"
        headers = {k: expand_env(v, f"{key}.{k}") for k, v in self.settings.headers.items()}
        timeout = httpx2.Timeout(self.settings.timeout_s, read=max(self.settings.call_timeout_s, 30.0) + 5)
        http = httpx2.AsyncClient(headers=headers, timeout=timeout)
        assert self.settings.url is not None
        return http, streamable_http_client(self.settings.url, http_client=http)

    async def start(self) -> None:
        """Connect (once; again after a break) and list the tools, within ``timeout_s``; McpUnavailable if not."""
        async with self._lock:
            if self._client is not None:
                return
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER_S:
                raise McpUnavailable(f"MCP server {self.name}: {self.error}")
            await self._finish_task()
            self.error = None
            self._stop = asyncio.Event()
            ready = asyncio.Event()
            self._task = asyncio.create_task(self._own(ready), name=f"mcp-{self.name}")
            try:  # the owner sets ``ready`` when listed or failed (asyncio.wait on the task itself missed wake-ups)
                await asyncio.wait_for(ready.wait(), self.settings.timeout_s)
            except TimeoutError:
                self.error = f"did not start within {self.settings.timeout_s:g} s"
            if self._client is None:
                await self._finish_task()
                self._failed_at = time.monotonic()
                raise McpUnavailable(f"MCP server {self.name}: {self.error or 'closed during start-up'}")

    async def _own(self, ready: asyncio.Event) -> None:
        from mcp import Client
        from mcp_types import Implementation

        info = Implementation(name="lodestar", version="0.1.0")
        http = None
        files = contextlib.ExitStack()
        try:
            if self.settings.url:
                http, target = self._http_client()
            else:
                target = self._stdio(files)
            async with Client(target, client_info=info, read_timeout_seconds=self.settings.call_timeout_s) as client:
                self.tools = await _list_all(client)
                self._client = client
                self._failed_at = None
                ready.set()
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # anything the transport meets: the connection's status, not a crash
            self.error = _reason(exc)
        finally:
            self._client = None
            ready.set()
            if http is not None:
                await http.aclose()
            files.close()

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """``tools/call`` within ``call_timeout_s``; ToolError (an observation for the model) when it fails."""
        qualified = f"{self.name}__{tool}"
        try:
            await self.start()
        except McpUnavailable as exc:
            raise ToolError(str(exc)) from None
        client = self._client
        limit = self.settings.call_timeout_s
        try:
            return await asyncio.wait_for(client.call_tool(tool, arguments, read_timeout_seconds=limit), limit)
        except TimeoutError:
            raise ToolError(f"{qualified} timed out after {limit:g} s") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = _reason(exc)
            if "timed out" in reason.lower() or "timeout" in reason.lower():
                raise ToolError(f"{qualified} timed out after {limit:g} s") from None
            await self._drop_if_dead()
            raise ToolError(f"{qualified} failed: {reason}") from None

    async def _drop_if_dead(self) -> None:
        """After a failed call: if the owner task ended or the server is gone, close it so the next use restarts."""
        task = self._task
        if task is None or task.done() or not await self._alive():
            await self.stop()
            self.error = self.error or "the connection closed"

    async def _alive(self) -> bool:
        client = self._client
        if client is None:
            return False
        try:
            await asyncio.wait_for(client.list_tools(cache_mode="refresh"), min(5.0, self.settings.timeout_s))
        except Exception:
            return False
        return True

    async def stop(self) -> None:
        """Close the connection (a stdio server is stopped with its whole process group); safe to call twice."""
        async with self._lock:
            await self._finish_task()

    async def _finish_task(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_S)  # the owner's failure is already in self.error
        if not done:
            task.cancel()
            await asyncio.wait({task})
        self._client = None


async def _list_all(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    for _ in range(100):  # a paginator that never ends cannot hang start-up
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools
