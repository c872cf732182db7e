"""Which store ``[kg] backend`` names, opened for reading (``kg load`` writes through :mod:`kg.stores.load`)."""

from __future__ import annotations

from pathlib import Path

from agent.core.config import KgSettings
from agent.core.errors import BadInputError
from kg.store import NO_GRAPH, KnowledgeGraph, graph_dir, open_graph
from kg.stores.base import GraphStore


def open_store(home: Path, settings: KgSettings) -> GraphStore:
    """The configured store; BadInputError (exit 2) when a local one holds no graph yet."""
    if settings.backend == "oxigraph":
        from kg.stores.oxigraph import OxigraphStore

        return OxigraphStore.open(graph_dir(home), create=False)
    if settings.backend == "sparql":
        from kg.stores.sparql import SparqlStore

        return SparqlStore.from_settings(settings)
    from kg.stores.networkx import NetworkxStore

    graph = open_graph(home)
    if len(graph) == 0:
        raise BadInputError(NO_GRAPH)
    return NetworkxStore(graph, graph_dir(home))


def as_store(graph: object) -> GraphStore:
    """A store for ``graph``: a :class:`KnowledgeGraph` is wrapped (tests and benchmarks build those directly)."""
    if isinstance(graph, KnowledgeGraph):
        from kg.stores.networkx import NetworkxStore

        return NetworkxStore(graph)
    if not isinstance(graph, GraphStore):
        raise TypeError(f"not a graph store: {type(graph).__name__}")
    return graph
