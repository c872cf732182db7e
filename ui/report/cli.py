"""The ``lodestar report`` handler."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agent.core.config import Settings
from ui.report.builder import build_report


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write the report (default: the first answers file with ``.html``) and say where, with its size."""
    inputs = [Path(p) for p in args.answers]
    output = Path(args.output) if args.output else inputs[0].with_suffix(".html")
    started = time.perf_counter()
    path = build_report(inputs, output)
    size = path.stat().st_size
    print(f"wrote {path} ({size / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)")
    return 0
