"""``lodestar ingest PATH… [--collection NAME]``: add files and folders to the document store.

Bad files are reported and skipped while the rest goes on; the exit code is 2 only when nothing at all could be
ingested and something was skipped (e.g. every path was missing), else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any

from agent.core.config import Settings
from rag.ingest import IngestReport, ingest_paths
from rag.store import check_collection_name

PROGRESS_MIN_FILES = 5  # below this an ingest is quick: no bar
MAX_LISTED = 20


class _Progress:
    """A rich progress bar on stderr, shown only on a terminal and only for ingests with several files."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._files: Any = None
        self._chunks = 0

    def __call__(self, event: str, n: int) -> None:
        if event == "files":
            if n >= PROGRESS_MIN_FILES and sys.stderr.isatty():
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                self._bar = Progress(
                    TextColumn("[bold]ingest[/] {task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
                self._bar.start()
                self._files = self._bar.add_task("files", total=n)
        elif self._bar is not None:
            if event == "file":
                self._bar.advance(self._files, n)
            elif event == "chunks":
                self._chunks += n
                self._bar.update(self._files, description=f"files · {self._chunks} chunks embedded")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def format_report(report: IngestReport) -> list[str]:
    lines = [
        f"collection {report.collection}: {report.files} file(s) ingested "
        f"({report.files_new} new, {report.files_changed} changed, {report.files_unchanged} unchanged) "
        f"in {report.seconds:.1f} s",
        f"chunks: {report.chunks_added} added, {report.chunks_unchanged} unchanged, {report.chunks_removed} removed",
    ]
    if report.files_removed:
        lines.append(f"pruned {report.files_removed} file(s) no longer on disk")
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} file(s):")
        lines += [f"  {s.path}: {s.reason}" for s in report.skipped[:MAX_LISTED]]
        if len(report.skipped) > MAX_LISTED:
            lines.append(f"  … and {len(report.skipped) - MAX_LISTED} more")
    if report.problems:
        lines.append(f"skipped {len(report.problems)} malformed line(s):")
        lines += [f"  {p}" for p in report.problems[:MAX_LISTED]]
        if len(report.problems) > MAX_LISTED:
            lines.append(f"  … and {len(report.problems) - MAX_LISTED} more")
    if report.ignored:
        lines.append(f"ignored {report.ignored} file(s) of other types in the given folders")
    return lines


async def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    collection = check_collection_name(args.collection or settings.rag.collection)
    progress = _Progress()
    stop = threading.Event()
    try:
        report = await asyncio.to_thread(
            ingest_paths,
            list(args.paths),
            settings,
            collection=collection,
            progress=progress,
            prune=args.prune,
            stop=stop,
        )
    except asyncio.CancelledError:  # Ctrl-C: the worker thread stops within a second, its writes consistent
        stop.set()
        raise
    finally:
        progress.close()
    for line in format_report(report):
        print(line)
    if not report.ingested_anything and not report.files_removed and (report.skipped or report.problems):
        print("lodestar: error: nothing could be ingested", file=sys.stderr)
        return 2
    return 0
