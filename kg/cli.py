"""``lodestar kg load | stats | show | rebuild | reset``: build, inspect, browse and repair the persisted graph."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.core.config import Settings
from agent.core.errors import BadInputError
from kg.ingest import LoadReport
from kg.store import graph_dir
from kg.stores.base import GraphStore, Neighbourhood
from kg.stores.load import rebuild, reset
from kg.stores.open import open_store
from kg.workflow import load_graph_files, problem_lines


def _report_problems(report: LoadReport) -> None:
    for line in problem_lines(report):
        print(f"lodestar: {line}", file=sys.stderr)


async def cmd_kg_load(args: argparse.Namespace, settings: Settings) -> int:
    aliases = Path(args.aliases) if args.aliases else None
    load = load_graph_files(
        settings, Path(args.file), args.format, aliases, strict=args.strict, on_problems=_report_problems
    )
    summary = load.summary()
    _report_problems(load.triples)
    print(summary[0])
    if load.aliases is not None:
        _report_problems(load.aliases)
        print(summary[1])
    print(summary[-1])
    return 0


async def cmd_kg_reset(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the graph (file, store, recorded sources, caches): the way out of a graph that cannot be read."""
    directory = graph_dir(settings.home)
    if not reset(settings):
        print(f"no graph to remove under {directory}")
        return 0
    print(f"removed the graph under {directory}; load one with `lodestar kg load FILE`")
    return 0


async def cmd_kg_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Build the graph again from the files it was loaded from (a corrupt or old-format graph is replaced)."""
    reports, summary = rebuild(settings)
    for report in reports:
        _report_problems(report)
        print(f"{report.file}: {report.added or report.aliases_added} added ({report.format})")
    print(summary + " (rebuilt)")
    return 0


async def cmd_kg_stats(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings.home, settings.kg)
    try:
        stats = await store.stats()
    finally:
        await store.aclose()
    print(f"backend:   {stats.backend}")
    if stats.entities is not None:
        print(f"entities:  {stats.entities}")
    print(f"triples:   {stats.triples}")
    print(f"relations: {stats.relations}")
    if stats.aliases is not None:
        print(f"aliases:   {stats.aliases}")
    print(f"stored in: {stats.location}")
    for source in stats.sources[-5:]:
        print(f"loaded:    {source['file']} ({source.get('format')}, {source.get('added')} added)")
    if stats.top_relations:
        print("top relations:")
        for relation, count in stats.top_relations:
            print(f"  {count:>9}  {relation}")
    return 0


async def resolve_entity(store: GraphStore, text: str) -> list[str]:
    """Ids for ``text`` or a BadInputError that suggests the closest names."""
    found = await store.lookup(text)
    if found:
        return found
    suggestions = await store.suggest(text, 3)
    hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise BadInputError(f"unknown entity {text!r}{hint}")


async def cmd_kg_show(args: argparse.Namespace, settings: Settings) -> int:
    text = " ".join(args.entity).strip()
    if not text:
        raise BadInputError("name an entity: lodestar kg show ENTITY")
    store = open_store(settings.home, settings.kg)
    try:
        for node in await resolve_entity(store, text):
            _print_neighbourhood(await store.neighbourhood(node))
    finally:
        await store.aclose()
    return 0


def _print_neighbourhood(shown: Neighbourhood) -> None:
    print(shown.name if shown.name == shown.id else f"{shown.name}  [{shown.id}]")
    if shown.aliases:
        print(f"  aliases: {'; '.join(shown.aliases)}")
    for table, arrow in ((shown.outgoing, "→"), (shown.incoming, "←")):
        for relation, names in table.items():
            label = f"  —{relation}→" if arrow == "→" else f"  ←{relation}—"
            more = shown.more.get(f"{arrow}{relation}", 0)
            print(f"{label} {'; '.join(names)}" + (f" … and {more} more" if more else ""))
    if not shown.outgoing and not shown.incoming:
        print("  (no edges)")
