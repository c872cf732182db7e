"""The embedded backend: a :class:`~kg.store.KnowledgeGraph` (networkx, in memory) as a :class:`GraphStore`."""

from __future__ import annotations

from pathlib import Path

from kg.store import KnowledgeGraph, normalize
from kg.stores.base import GraphStats, Neighbourhood, group


class NetworkxStore:
    backend = "networkx"

    def __init__(self, graph: KnowledgeGraph, directory: Path | None = None) -> None:
        self.graph = graph
        self.directory = directory  # where the graph (and its name-embedding cache) lives; None: in memory only

    @property
    def revision(self) -> str:
        return self.graph.revision

    async def relations(self, nodes: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        return {node: self.graph.relations(node) for node in nodes if node in self.graph}

    async def neighbours(self, requests: list[tuple[str, str, bool]]) -> list[list[str]]:
        return [self.graph.neighbours(node, relation, head) for node, relation, head in requests]

    def name(self, node: str) -> str:
        return self.graph.name(node)

    def has_name(self, node: str) -> bool:
        return self.graph.has_name(node)

    def relation_name(self, relation: str) -> str:
        return relation

    async def lookup(self, text: str) -> list[str]:
        return self.graph.lookup(text)

    async def match_labels(self, spans: list[tuple[str, str]]) -> dict[str, list[str]]:
        found = {key: self.graph.lookup_normalized(key) for key, _ in spans}
        return {key: nodes for key, nodes in found.items() if nodes}

    async def fuzzy(self, text: str, cutoff: float, limit: int = 1) -> list[tuple[str, float]]:
        from rapidfuzz import fuzz, process

        keys = list(self.graph.index_keys())
        best = process.extract(text, keys, scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit)
        return [(key, float(score)) for key, score, _ in best]

    async def suggest(self, text: str, limit: int) -> list[str]:
        from rapidfuzz import fuzz, process

        keys = list(self.graph.index_keys())
        best = process.extract(normalize(text), keys, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=60)
        names: list[str] = []
        for key, _, _ in best:
            for node in self.graph.lookup_normalized(key):
                if (name := self.graph.name(node)) not in names:
                    names.append(name)
        return names[:limit]

    async def by_degree(self, nodes: list[str]) -> list[str]:
        return sorted(nodes, key=lambda n: -self.graph.g.degree(n))

    async def entity_names(self, limit: int) -> list[tuple[str, str]] | None:
        if len(self.graph) > limit:
            return None
        return self.graph.entity_names()

    async def stats(self) -> GraphStats:
        counts = self.graph.relation_counts()
        return GraphStats(
            backend=self.backend,
            entities=len(self.graph),
            triples=self.graph.num_triples,
            relations=len(counts),
            aliases=sum(len(self.graph.aliases(n)) for n in self.graph.g.nodes),
            location=str(self.directory) if self.directory else "memory",
            top_relations=sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:15],
            sources=list(self.graph.sources),
        )

    async def neighbourhood(self, node: str) -> Neighbourhood:
        g = self.graph
        shown = Neighbourhood(id=node, name=g.name(node), aliases=g.aliases(node))
        heads, tails = g.relations(node)
        for relations, head, table, arrow in ((heads, True, shown.outgoing, "→"), (tails, False, shown.incoming, "←")):
            for relation in relations:
                names, more = group([g.name(n) for n in g.neighbours(node, relation, head)])
                table[relation] = names
                if more:
                    shown.more[f"{arrow}{relation}"] = more
        return shown

    async def aclose(self) -> None:
        return None
