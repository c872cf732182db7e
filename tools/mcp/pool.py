"""The process's MCP connections: started on first use, shared by every run, stopped when the process ends.

One pool per event loop (a connection belongs to the loop its task runs on). ``shutdown_all`` is awaited by the
CLI before its loop closes, also on Ctrl-C and on errors; if the process dies some other way, the exit hook
kills whatever stdio server still carries our pid in its environment, so no server outlives Lodestar.
"""

from __future__ import annotations

import asyncio
import atexit
import fnmatch
import os
import weakref
from pathlib import Path

from agent.core.config import McpServerSettings, Settings
from tools.mcp.client import OWNER_ENV, McpConnection, McpUnavailable

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, McpPool] = weakref.WeakKeyDictionary()


class McpPool:
    def __init__(self) -> None:
        self.connections: dict[str, McpConnection] = {}

    def connection(self, name: str, settings: McpServerSettings, log_dir: Path | None = None) -> McpConnection:
        found = self.connections.get(name)
        if found is None or found.settings != settings:  # a changed config entry gets a fresh connection
            log_path = log_dir / f"mcp-{name}.log" if log_dir is not None else None
            found = self.connections[name] = McpConnection(name, settings, log_path)
        return found

    async def start(self, settings: Settings) -> list[McpConnection]:
        """Every configured server started (concurrently); those that fail keep their error for the report."""
        logs = settings.home / "logs"
        chosen = [self.connection(name, entry, logs) for name, entry in settings.mcp.servers.items()]

        async def start_one(connection: McpConnection) -> None:
            try:
                await connection.start()
            except McpUnavailable:
                return

        await asyncio.gather(*(start_one(c) for c in chosen))
        return chosen

    async def close(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.connections.values()))
        self.connections.clear()


def get_pool() -> McpPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = McpPool()
    return pool


async def shutdown_all() -> None:
    """Stop every server this loop started (the CLI awaits it before the loop closes)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()


def wanted(tool: str, entry: McpServerSettings) -> bool:
    """``include`` globs (default: all), then ``exclude`` globs, on the server's own tool name."""
    if entry.include and not any(fnmatch.fnmatchcase(tool, g) for g in entry.include):
        return False
    return not any(fnmatch.fnmatchcase(tool, g) for g in entry.exclude)


def _kill_strays() -> None:
    """Last resort at interpreter exit: stdio servers still running with our pid in their environment."""
    try:
        import psutil
    except ImportError:
        return
    me = str(os.getpid())
    for child in psutil.Process().children(recursive=True):
        try:
            if child.environ().get(OWNER_ENV) == me:
                child.kill()
        except (psutil.Error, OSError):
            continue


atexit.register(_kill_strays)
