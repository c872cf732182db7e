"""The palette's long jobs — ingest documents, load a graph — as plain functions run in a worker thread.

They call the same code as ``lodestar ingest`` and ``lodestar kg load`` (imported lazily: the chat starts fast
and still works in a build without rag/ or kg/), report progress through a callback and return the report
lines the CLI would print.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from agent.core.config import Settings
from agent.core.errors import BadInputError

Progress = Callable[[str, int], None]  # ("total", n) | ("advance", n) | ("chunks", n)
REPO = Path(__file__).resolve().parent.parent


class IngestRequest(BaseModel):
    paths: list[str]
    collection: str | None = None


class GraphRequest(BaseModel):
    file: Path
    aliases: Path | None = None
    format: str | None = None


def find_example(relative: str) -> str:
    """The demo data next to the current folder or the installed source tree; "" when neither has it."""
    for base in (Path.cwd(), REPO):
        candidate = base / relative
        if candidate.exists():
            try:
                return str(candidate.relative_to(Path.cwd()))
            except ValueError:
                return str(candidate)
    return ""


def ingest(request: IngestRequest, settings: Settings, progress: Progress) -> list[str]:
    try:
        from rag.cli import format_report
        from rag.ingest import ingest_paths
        from rag.store import check_collection_name
    except ImportError as exc:
        raise BadInputError(f"document ingestion is not available in this build ({exc.name})") from None
    collection = check_collection_name(request.collection or settings.rag.collection)

    def relay(event: str, n: int) -> None:
        progress({"files": "total", "file": "advance"}.get(event, event), n)

    report = ingest_paths(list(request.paths), settings, collection=collection, progress=relay)
    lines = format_report(report)
    if not report.ingested_anything and (report.skipped or report.problems):
        raise BadInputError(
            "nothing could be ingested: " + (report.skipped[0].reason if report.skipped else report.problems[0])
        )
    return lines


def load_graph(request: GraphRequest, settings: Settings, progress: Progress) -> list[str]:
    try:
        from kg.workflow import load_graph_files
    except ImportError as exc:
        raise BadInputError(f"graph loading is not available in this build ({exc.name})") from None
    load = load_graph_files(settings, request.file, request.format, request.aliases, progress=progress)
    return load.summary()
