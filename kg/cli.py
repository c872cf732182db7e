"""``lodestar kg load | stats | show``: build, inspect and browse the persisted graph."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.core.config import Settings
from agent.core.errors import BadInputError
from kg.ingest import LoadReport
from kg.store import KnowledgeGraph, graph_dir, normalize, open_graph
from kg.workflow import load_graph_files, problem_lines

MAX_PER_RELATION = 10


def _report_problems(report: LoadReport) -> None:
    for line in problem_lines(report):
        print(f"lodestar: {line}", file=sys.stderr)


async def cmd_kg_load(args: argparse.Namespace, settings: Settings) -> int:
    aliases = Path(args.aliases) if args.aliases else None
    load = load_graph_files(settings, Path(args.file), args.format, aliases, strict=args.strict)
    summary = load.summary()
    _report_problems(load.triples)
    print(summary[0])
    if load.aliases is not None:
        _report_problems(load.aliases)
        print(summary[1])
    print(summary[-1])
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
