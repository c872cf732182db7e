"""``lodestar kg load | stats | show | rebuild | reset``: build, inspect, browse and repair the persisted graph."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from agent.core.config import Settings
from agent.core.errors import BadInputError
from kg.graphfile import read_sources
from kg.ingest import LoadReport, load_aliases, load_triples, rebuild
from kg.store import KnowledgeGraph, graph_dir, normalize, open_graph, open_or_new

MAX_PROBLEMS_SHOWN = 20
MAX_PER_RELATION = 10


def _report_problems(report: LoadReport) -> None:
    """Every skipped line is accounted for: the first ones in full, the rest by line number."""
    problems = report.malformed
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        print(f"lodestar: skipped {problem}", file=sys.stderr)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        rest = ", ".join(str(p.line) for p in problems[MAX_PROBLEMS_SHOWN:])
        print(
            f"lodestar: skipped {len(problems) - MAX_PROBLEMS_SHOWN} more malformed lines in {report.file}: "
            f"lines {rest}",
            file=sys.stderr,
        )


async def cmd_kg_load(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    aliases = Path(args.aliases) if args.aliases else None
    if aliases is not None and not aliases.is_file():
        raise BadInputError(f"{aliases}: no such file")
    graph = open_or_new(settings.home)
    report = load_triples(graph, path, args.format, strict=args.strict)
    _report_problems(report)
    report.require_something()
    alias_report = load_aliases(graph, aliases, strict=args.strict) if aliases else None
    saved = graph.save(graph_dir(settings.home))
    print(
        f"{path}: {report.added} triples added, {report.duplicates} duplicates, "
        f"{len(report.malformed)} malformed lines skipped"
        + (f", {report.names} names set" if report.names else "")
        + (f", {report.aliases_added} aliases" if report.aliases_added else "")
        + f" ({report.seconds:.2f} s)"
    )
    if alias_report is not None:
        _report_problems(alias_report)
        print(
            f"{aliases}: {alias_report.aliases_added} aliases added, "
            f"{len(alias_report.malformed)} malformed lines skipped"
        )
    print(
        f"graph: {len(graph)} entities, {graph.num_triples} triples, "
        f"{len(graph.relation_counts())} relations (saved to {saved})"
    )
    return 0


async def cmd_kg_reset(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the graph (file, recorded sources, caches): the way out of a graph that cannot be read."""
    directory = graph_dir(settings.home)
    if not directory.exists():
        print(f"no graph to remove under {directory}")
        return 0
    shutil.rmtree(directory)
    print(f"removed the graph under {directory}; load one with `lodestar kg load FILE`")
    return 0


async def cmd_kg_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Build the graph again from the files it was loaded from (a corrupt or old-format graph file is replaced)."""
    directory = graph_dir(settings.home)
    sources = read_sources(directory)
    if not sources:
        raise BadInputError(f"no recorded sources under {directory}: `lodestar kg reset`, then `lodestar kg load FILE`")
    graph = KnowledgeGraph()
    for report in rebuild(sources, graph):
        _report_problems(report)
        print(f"{report.file}: {report.added or report.aliases_added} added ({report.format})")
    saved = graph.save(directory)
    print(f"graph: {len(graph)} entities, {graph.num_triples} triples (rebuilt, saved to {saved})")
    return 0


async def cmd_kg_stats(args: argparse.Namespace, settings: Settings) -> int:
    graph = open_graph(settings.home)
    counts = graph.relation_counts()
    aliases = sum(len(graph.aliases(n)) for n in graph.g.nodes)
    path = graph_dir(settings.home)
    print(f"entities:  {len(graph)}")
    print(f"triples:   {graph.num_triples}")
    print(f"relations: {len(counts)}")
    print(f"aliases:   {aliases}")
    print(f"stored in: {path}")
    for source in graph.sources[-5:]:
        print(f"loaded:    {source['file']} ({source['format']}, {source['added']} triples added)")
    if counts:
        print("top relations:")
        for relation, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:15]:
            print(f"  {count:>9}  {relation}")
    return 0


def resolve_entity(graph: KnowledgeGraph, text: str) -> list[str]:
    """Ids for ``text`` or a BadInputError that suggests the closest names."""
    found = graph.lookup(text)
    if found:
        return found
    suggestions = suggest(graph, text)
    hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise BadInputError(f"unknown entity {text!r}{hint}")


def suggest(graph: KnowledgeGraph, text: str, limit: int = 3) -> list[str]:
    """The closest entity names and aliases (rapidfuzz), best first."""
    from rapidfuzz import fuzz, process

    keys = list(graph.index_keys())
    best = process.extract(normalize(text), keys, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=60)
    names: list[str] = []
    for key, _, _ in best:
        for node in graph.lookup_normalized(key):
            name = graph.name(node)
            if name not in names:
                names.append(name)
    return names[:limit]


async def cmd_kg_show(args: argparse.Namespace, settings: Settings) -> int:
    text = " ".join(args.entity).strip()
    if not text:
        raise BadInputError("name an entity: lodestar kg show ENTITY")
    graph = open_graph(settings.home)
    for node in resolve_entity(graph, text):
        name = graph.name(node)
        header = name if name == node else f"{name}  [{node}]"
        print(header)
        if aliases := graph.aliases(node):
            print(f"  aliases: {'; '.join(aliases)}")
        head_rels, tail_rels = graph.relations(node)
        for relation in head_rels:
            _print_group(f"  —{relation}→", [graph.name(t) for t in graph.neighbours(node, relation, True)])
        for relation in tail_rels:
            _print_group(f"  ←{relation}—", [graph.name(h) for h in graph.neighbours(node, relation, False)])
        if not head_rels and not tail_rels:
            print("  (no edges)")
    return 0


def _print_group(label: str, names: list[str]) -> None:
    names = sorted(names)
    shown = "; ".join(names[:MAX_PER_RELATION])
    more = f" … and {len(names) - MAX_PER_RELATION} more" if len(names) > MAX_PER_RELATION else ""
    print(f"{label} {shown}{more}")
