"""``lodestar tools probe [NAME…] [--refresh] [--yes]``: black-box probing from the command line (tools/probe.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from agent.core.config import Settings
from tools.builtins import build_registry
from tools.probe import Prober
from tools.registry import Tool


async def cmd_tools_probe(args: argparse.Namespace, settings: Settings) -> int:
    from agent.llm.hub import LLMHub

    async def confirm(item: Tool, arguments: dict[str, Any]) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            return False  # nobody to ask: a tool with side effects is not run
        question = f"{item.name} has side effects. Run {item.name}({json.dumps(arguments, ensure_ascii=False)})? [y/N] "
        answer = await asyncio.to_thread(input, question)
        return answer.strip().lower() in ("y", "yes")

    registry = build_registry(settings, knowledge=True)
    async with LLMHub(settings) as hub, Prober(registry, hub, confirm=confirm) as prober:
        outcomes = await prober.probe(args.names, refresh=args.refresh)
    width = max((len(o.tool) for o in outcomes), default=0)
    for outcome in outcomes:
        shown = outcome.detail
        if outcome.record is not None:
            shown = json.dumps(outcome.record.output_schema, ensure_ascii=False)
        print(f"{outcome.tool:<{width}}  {outcome.status:<8}  {shown[:300]}")
    failed = [o.tool for o in outcomes if o.status == "failed"]
    if failed:
        print(f"lodestar: error: could not probe {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
