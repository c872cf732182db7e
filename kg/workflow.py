"""Loading a graph from files: the one workflow behind ``lodestar kg load`` and the TUI's "Load knowledge graph".

Open (or create) the home's graph, merge the triples file, then the aliases file, save, and describe what happened
in the lines both front ends show: skipped lines (every one accounted for) and the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from agent.core.config import Settings
from agent.core.errors import BadInputError
from kg.ingest import LoadReport, load_aliases, load_triples
from kg.store import graph_dir, open_or_new

MAX_PROBLEMS_SHOWN = 20

Progress = Callable[[str, int], None]  # ("total", steps) then ("advance", 1) per step


class GraphLoad(BaseModel):
    """What one load did, and the graph it left."""

    triples: LoadReport
    aliases: LoadReport | None = None
    entities: int
    num_triples: int
    relations: int
    saved: str

    def summary(self) -> list[str]:
        """The lines ``lodestar kg load`` prints on stdout."""
        report = self.triples
        lines = [
            f"{report.file}: {report.added} triples added, {report.duplicates} duplicates, "
            f"{len(report.malformed)} malformed lines skipped"
            + (f", {report.names} names set" if report.names else "")
            + (f", {report.aliases_added} aliases" if report.aliases_added else "")
            + f" ({report.seconds:.2f} s)"
        ]
        if self.aliases is not None:
            lines.append(
                f"{self.aliases.file}: {self.aliases.aliases_added} aliases added, "
                f"{len(self.aliases.malformed)} malformed lines skipped"
            )
        lines.append(
            f"graph: {self.entities} entities, {self.num_triples} triples, {self.relations} relations "
            f"(saved to {self.saved})"
        )
        return lines


def problem_lines(report: LoadReport) -> list[str]:
    """Every skipped line is accounted for: the first ones in full, the rest by line number."""
    problems = report.malformed
    lines = [f"skipped {problem}" for problem in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        rest = ", ".join(str(p.line) for p in problems[MAX_PROBLEMS_SHOWN:])
        lines.append(
            f"skipped {len(problems) - MAX_PROBLEMS_SHOWN} more malformed lines in {report.file}: lines {rest}"
        )
    return lines


def load_graph_files(
    settings: Settings,
    file: Path,
    fmt: str | None = None,
    aliases: Path | None = None,
    *,
    strict: bool = False,
    progress: Progress | None = None,
) -> GraphLoad:
    """Merge ``file`` (and ``aliases``) into the home's graph and save it; BadInputError for a missing file."""
    if aliases is not None and not aliases.is_file():
        raise BadInputError(f"{aliases}: no such file")

    def step(kind: str, n: int) -> None:
        if progress is not None:
            progress(kind, n)

    step("total", 3 if aliases else 2)
    graph = open_or_new(settings.home)
    report = load_triples(graph, file, fmt, strict=strict)
    step("advance", 1)
    alias_report = None
    if aliases is not None:
        alias_report = load_aliases(graph, aliases, strict=strict)
        step("advance", 1)
    saved = graph.save(graph_dir(settings.home))
    step("advance", 1)
    return GraphLoad(
        triples=report,
        aliases=alias_report,
        entities=len(graph),
        num_triples=graph.num_triples,
        relations=len(graph.relation_counts()),
        saved=str(saved),
    )
