"""What ``lodestar doctor`` and ``lodestar mcp tools`` say about the servers in ``[mcp.servers]``."""

from __future__ import annotations

from agent.core.config import Settings
from agent.core.errors import BadInputError
from tools.mcp.adapter import tools_of
from tools.mcp.pool import get_pool


async def server_lines(settings: Settings, *, describe: bool) -> list[str]:
    """One line per server (status, transport, tool count), then its tools (with descriptions if ``describe``)."""
    lines: list[str] = []
    for connection in await get_pool().start(settings):
        entry = connection.settings
        where = entry.url or " ".join([entry.command or "", *entry.args]).strip()
        offered = tools_of(connection) if connection.status == "running" else []
        if connection.status == "running":
            lines.append(f"mcp {connection.name:<8} running ({where}), {len(offered)} tools")
        else:
            lines.append(f"mcp {connection.name:<8} {connection.status}: {connection.error} ({where})")
        for item in offered:
            lines.append(f"    {item.name}" + (f": {item.description}" if describe else ""))
    return lines


async def print_servers(settings: Settings) -> int:
    """``lodestar mcp tools``: exit 1 when a server could not be started, 2 when none is configured."""
    if not settings.mcp.servers:
        raise BadInputError("no MCP servers configured: add [mcp.servers.NAME] to lodestar.toml")
    for line in await server_lines(settings, describe=True):
        print(line)
    failed = [c for c in get_pool().connections.values() if c.status != "running"]
    return 1 if failed else 0
