"""Loading a graph from files: the one workflow behind ``lodestar kg load`` and the TUI's "Load knowledge graph".

Open (or create) the configured store (:func:`kg.stores.load.loader`: networkx or oxigraph; the SPARQL backend is
read-only), merge the triples file, then the aliases file, commit, and describe what happened in the lines both
front ends show: skipped lines (every one accounted for) and the summary. A file with nothing usable in it is bad
input, and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from agent.core.config import Settings
from agent.core.errors import BadInputError
from kg.ingest import LoadReport
from kg.stores.load import loader

MAX_PROBLEMS_SHOWN = 20

Progress = Callable[[str, int], None]  # ("total", steps) then ("advance", 1) per step


class GraphLoad(BaseModel):
    """What one load did, and the graph it left."""

    triples: LoadReport
    aliases: LoadReport | None = None
    graph: str  # the store's one-line description after the load

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
        lines.append(self.graph)
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
    on_problems: Callable[[LoadReport], None] | None = None,
) -> GraphLoad:
    """Merge ``file`` (and ``aliases``) into the home's graph and commit; BadInputError for a missing file or
    one with nothing usable in it (``on_problems`` sees its skipped lines first)."""
    if aliases is not None and not aliases.is_file():
        raise BadInputError(f"{aliases}: no such file")

    def step(kind: str, n: int) -> None:
        if progress is not None:
            progress(kind, n)

    step("total", 3 if aliases else 2)
    target = loader(settings)
    report = target.load_file(file, fmt, strict=strict)
    if not report.usable and on_problems is not None:
        on_problems(report)
    report.require_something()
    step("advance", 1)
    alias_report = None
    if aliases is not None:
        alias_report = target.load_aliases(aliases, strict=strict)
        step("advance", 1)
    graph = target.commit()
    step("advance", 1)
    return GraphLoad(triples=report, aliases=alias_report, graph=graph)
