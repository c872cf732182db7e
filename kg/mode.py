"""The ``kg`` mode and the :func:`query_graph` entry point the tools layer wraps.

``query_graph`` links the question to topic entities, runs Think-on-Graph and returns the answer with its
reasoning paths as provenance; ``answer_kg`` adapts it to the mode-handler signature of ``agent.run.question``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from agent.core.config import KgSettings
from agent.core.errors import BadInputError
from agent.core.trace import Answer, Citation, Trace
from agent.llm.client import LLM
from agent.llm.hub import LLMHub
from kg.linking import TopicEntity, link_entities
from kg.store import NO_GRAPH, KnowledgeGraph, Triple, graph_dir
from kg.stores.base import GraphStore
from kg.stores.open import as_store, open_store
from kg.tog import ThinkOnGraph


class GraphAnswer(BaseModel):
    answer: str
    short_answer: str | None = Field(None, description="the {…} answer when the model gave one")
    paths: list[list[Triple]] = Field(default_factory=list, description="reasoning paths, topic entity first")
    citations: list[Citation] = Field(default_factory=list)
    llm_calls: int = 0
    topic_entities: list[TopicEntity] = Field(default_factory=list)
    fallback: str = "none"
    sufficient: bool = False
    depth: int = 0


def cite(triples: list[Triple]) -> list[Citation]:
    unique = list(dict.fromkeys(triples))
    return [Citation(id=t.id, kind="triple", source="graph", text=t.text()) for t in unique]


async def query_graph(
    question: str,
    *,
    hub: LLMHub | None = None,
    explorer: LLM | None = None,
    summarizer: LLM | None = None,
    graph: GraphStore | KnowledgeGraph | None = None,
    settings: KgSettings | None = None,
    home: Path | None = None,
    trace: Trace | None = None,
    on_delta: Callable[[str], None] | None = None,
) -> GraphAnswer:
    """Answer ``question`` from the knowledge graph with Think-on-Graph.

    Give either ``hub`` (roles "explorer" and "summarizer" are taken from it, bound to ``trace``) or both LLM
    handles. The graph defaults to the one persisted under ``home`` (default: the hub's settings.home);
    ``settings`` default to the hub's ``kg`` section (capped by its ``local_*`` fields when the hub runs the
    embedded model). Raises BadInputError when no graph is loaded.
    """
    if not question.strip():
        raise BadInputError("the question is empty")
    if hub is not None:
        explorer = explorer or hub.llm("explorer", trace)
        summarizer = summarizer or hub.llm("summarizer", trace)
        settings = settings or hub.settings.kg.lean(hub.settings.uses_local)
        home = home or hub.settings.home
    if explorer is None or summarizer is None:
        raise TypeError("query_graph needs a hub or both the explorer and summarizer LLMs")
    settings = settings or KgSettings()
    directory = None  # where name embeddings are cached: only next to the persisted graph they belong to
    if graph is None:
        if home is None:
            raise TypeError("query_graph needs a graph, a hub or a home folder")
        store = open_store(home, settings)
        directory = graph_dir(home)
    else:
        store = as_store(graph)
        if isinstance(graph, KnowledgeGraph) and len(graph) == 0:
            raise BadInputError(NO_GRAPH)
    topics = await link_entities(store, question, settings, directory)
    search = ThinkOnGraph(store, explorer, summarizer, settings, trace=trace, on_delta=on_delta)
    result = await search.run(question, [t.id for t in topics])
    return GraphAnswer(
        answer=result.answer,
        short_answer=result.short_answer,
        paths=result.paths,
        citations=cite(result.triples),
        llm_calls=result.llm_calls,
        topic_entities=topics,
        fallback=result.fallback,
        sufficient=result.sufficient,
        depth=result.depth,
    )


async def answer_kg(question: str, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None) -> Answer:
    """Mode handler for ``--mode kg``: the answer cites its reasoning paths as triples."""
    result = await query_graph(question, hub=hub, trace=trace, on_delta=on_delta)
    return Answer(text=result.answer, citations=result.citations)
