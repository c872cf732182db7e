"""Merge a triple file (and an alias file) into a :class:`KnowledgeGraph`, counting everything that happens.

Nothing is dropped silently: every skipped line is in the report with its number and reason; ``strict`` turns the
first one into a :class:`BadInputError` before the graph is touched on disk.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from agent.core.errors import BadInputError
from kg.loaders import Format, Malformed, Record, detect_format, read_aliases, read_triples
from kg.store import KnowledgeGraph


class Problem(BaseModel):
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class LoadReport(BaseModel):
    file: str
    format: str
    added: int = 0
    duplicates: int = 0
    names: int = 0
    aliases_added: int = 0
    malformed: list[Problem] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def usable(self) -> int:
        """Lines that said something to the graph (a duplicate counts: it was understood)."""
        return self.added + self.duplicates + self.names + self.aliases_added

    def require_something(self) -> None:
        """Nothing usable in the whole file is bad input (exit 2), as in ``ingest``: nothing is saved."""
        if self.usable:
            return
        what = f"all {len(self.malformed)} lines were malformed" if self.malformed else "it holds no triples"
        hint = f" (read as {self.format}; is --format right?)" if self.malformed and self.format != "aliases" else ""
        raise BadInputError(f"{self.file}: nothing could be loaded: {what}{hint}")


def _fail(path: Path, problem: Malformed) -> BadInputError:
    return BadInputError(f"{path}:{problem.line}: {problem.reason} (--strict)")


def apply_records(
    graph: KnowledgeGraph, path: Path, records: Iterable[Record | Malformed], report: LoadReport, *, strict: bool
) -> None:
    add = graph.add_triple
    for record in records:
        if (
            record.__class__ is Record and record.kind == "triple" and record.head_id is None and record.tail_id is None
        ):  # the common case, kept short: a million of these per million lines
            if add(record.head, record.relation, record.tail, record.head, record.tail):
                report.added += 1
            else:
                report.duplicates += 1
            continue
        if isinstance(record, Malformed):
            if strict:
                raise _fail(path, record)
            report.malformed.append(Problem(file=str(path), line=record.line, reason=record.reason))
            continue
        if record.kind == "triple":
            head = record.head_id or record.head
            tail = record.tail_id or record.tail
            if graph.add_triple(head, record.relation, tail, record.head or None, record.tail or None):
                report.added += 1
            else:
                report.duplicates += 1
        elif record.kind == "name":
            graph.set_name(record.head, record.tail)
            report.names += 1
        else:
            graph.ensure_entity(record.head)
            if graph.add_alias(record.head, record.tail):
                report.aliases_added += 1


def load_triples(graph: KnowledgeGraph, path: Path, fmt: str | None = None, *, strict: bool = False) -> LoadReport:
    """Merge ``path`` into ``graph``. With ``strict`` the whole file is checked before anything is added."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    chosen: Format = detect_format(path, fmt)
    started = time.perf_counter()
    report = LoadReport(file=str(path), format=chosen)
    try:
        if strict:
            records = list(read_triples(path, chosen))
            first = next((r for r in records if isinstance(r, Malformed)), None)
            if first is not None:
                raise _fail(path, first)
            apply_records(graph, path, records, report, strict=True)
        else:
            apply_records(graph, path, read_triples(path, chosen), report, strict=False)
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if report.added or report.names or report.aliases_added:
        graph.touch()
    if report.usable:
        graph.sources.append(_source(path, chosen, report.added))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def load_aliases(graph: KnowledgeGraph, path: Path, *, strict: bool = False) -> LoadReport:
    """Add ``entity<TAB>alias`` lines; an entity the graph does not know is a malformed line, not a new node."""
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    report = LoadReport(file=str(path), format="aliases")
    try:
        records = list(read_aliases(path))
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    resolved: list[tuple[str, Record]] = []
    for record in records:
        if isinstance(record, Malformed):
            problem = record
        else:
            matches = graph.lookup(record.head)
            if len(matches) == 1:
                resolved.append((matches[0], record))
                continue
            problem = Malformed(
                record.line,
                f"unknown entity {record.head!r}"
                if not matches
                else f"ambiguous entity {record.head!r} ({len(matches)} matches)",
            )
        if strict:
            raise _fail(path, problem)
        report.malformed.append(Problem(file=str(path), line=problem.line, reason=problem.reason))
    for node, record in resolved:
        if graph.add_alias(node, record.tail):
            report.aliases_added += 1
    if report.aliases_added:
        graph.touch()
    if report.usable:
        graph.sources.append(_source(path, "aliases", report.aliases_added))
    return report


def _source(path: Path, fmt: str, added: int) -> dict[str, object]:
    """What ``lodestar kg rebuild`` replays: the absolute path, so it works from any folder."""
    return {"file": str(path.resolve()), "format": fmt, "added": added, "at": time.time()}
