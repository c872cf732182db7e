"""``lodestar mcp`` (serve) and ``lodestar mcp tools`` (list the attached servers' tools)."""

from __future__ import annotations

import argparse
import sys

from agent.core.config import Settings


async def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "mcp_command", None) == "tools":
        from tools.mcp.report import print_servers

        return await print_servers(settings)
    from agent.llm.hub import LLMHub
    from agent.mcp_server.server import ingest_roots, parse_http, serve
    from agent.mcp_server.service import LodestarService

    roots = ingest_roots(args.allow_ingest)
    if args.http:
        parse_http(args.http)  # a bad flag fails before anything starts

    def ready(url: str) -> None:
        print(f"lodestar: serving MCP at {url}; Ctrl-C stops it", file=sys.stderr, flush=True)

    async with LLMHub(settings) as hub:
        service = LodestarService(hub, ingest_roots=roots)
        await serve(service, http=args.http, allow_ingest=bool(roots), on_ready=ready)
    return 0
