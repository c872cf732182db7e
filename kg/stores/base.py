"""The graph-store interface Think-on-Graph, entity linking, ``query_graph``, ``kg stats/show`` and the TUI use.

Entities and relations are opaque string ids (networkx node ids; N-Triples terms such as ``<http://…>`` in the
RDF stores). Everything a person or a model sees goes through :meth:`GraphStore.name` and
:meth:`GraphStore.relation_name`: a label, else the IRI's local name, never a raw IRI. Reads are async and
batched (one SPARQL query for every frontier entity of a depth); names are synchronous, answered from what the
store already has in hand (remote stores learn labels with the queries that found the entities).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from kg.store import Triple

MAX_SHOWN_PER_RELATION = 10


class GraphStats(BaseModel):
    backend: str
    entities: int | None = None
    triples: int
    relations: int
    aliases: int | None = None
    location: str
    top_relations: list[tuple[str, int]] = Field(default_factory=list)
    sources: list[dict[str, object]] = Field(default_factory=list)


class Neighbourhood(BaseModel):
    """What ``kg show`` prints for one entity: names only, grouped by relation, each group capped."""

    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    outgoing: dict[str, list[str]] = Field(default_factory=dict)  # relation name -> tail names (sorted)
    incoming: dict[str, list[str]] = Field(default_factory=dict)
    more: dict[str, int] = Field(default_factory=dict)  # "→relation" / "←relation" -> names not listed


@runtime_checkable
class GraphStore(Protocol):
    backend: str

    @property
    def revision(self) -> str:
        """Changes whenever the graph does (derived caches such as name embeddings are keyed by it)."""
        ...

    # -- ToG's searches (freebase_func.py: relations around an entity both ways; entities through a relation) --

    async def relations(self, nodes: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        """node -> (relations where it is the head, relations where it is the tail)."""
        ...

    async def neighbours(self, requests: list[tuple[str, str, bool]]) -> list[list[str]]:
        """For each (node, relation, head): tails of ``node -relation->`` when ``head``, else its heads."""
        ...

    # -- names ------------------------------------------------------------------------------------------------

    def name(self, node: str) -> str: ...

    def has_name(self, node: str) -> bool: ...

    def relation_name(self, relation: str) -> str: ...

    # -- entity linking (a label index that scales) ------------------------------------------------------------

    async def lookup(self, text: str) -> list[str]:
        """Ids whose id, label or alias matches ``text`` (exact id first, then normalised)."""
        ...

    async def match_labels(self, spans: list[tuple[str, str]]) -> dict[str, list[str]]:
        """(normalised key, surface text) pairs -> ids per key that has any, in one batch."""
        ...

    async def fuzzy(self, text: str, cutoff: float, limit: int = 1) -> list[tuple[str, float]]:
        """The closest normalised label keys to ``text`` (rapidfuzz ratio ≥ cutoff), best first."""
        ...

    async def suggest(self, text: str, limit: int) -> list[str]:
        """The names closest to ``text`` (for "did you mean"), best first."""
        ...

    async def by_degree(self, nodes: list[str]) -> list[str]:
        """``nodes``, best connected first (ambiguous names: the more central entity wins)."""
        ...

    async def entity_names(self, limit: int) -> list[tuple[str, str]] | None:
        """(id, name) of every named entity, or None when there are more than ``limit`` (or no local index)."""
        ...

    # -- inspection ---------------------------------------------------------------------------------------------

    async def stats(self) -> GraphStats: ...

    async def neighbourhood(self, node: str) -> Neighbourhood: ...

    async def aclose(self) -> None: ...


def triple(store: GraphStore, head: str, relation: str, tail: str) -> Triple:
    """A triple by names: what prompts, traces and citations show."""
    return Triple(store.name(head), store.relation_name(relation), store.name(tail))


def group(names: list[str]) -> tuple[list[str], int]:
    """Sorted names capped for display, and how many more there are."""
    names = sorted(names)
    return names[:MAX_SHOWN_PER_RELATION], max(0, len(names) - MAX_SHOWN_PER_RELATION)
