"""What ``lodestar mcp`` serves, as plain async methods over one long-lived LLM hub.

Why a separate module: the MCP layer (server.py) only maps tools to these methods and errors to tool errors; the
work itself goes through the same entry points as the CLI (run_question, retrieval, Think-on-Graph, ingest), so
an MCP client gets exactly what ``lodestar ask`` gives. The hub (and with it the embedded model), the Chroma client,
the embedder and the graph are opened once per process and reused by every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from agent.core.config import Settings
from agent.core.errors import BadInputError, LodestarError
from agent.core.secrets import redact
from agent.core.trace import Citation, LlmCall, Plan, ToolCallEvent, Trace, Usage
from agent.llm.hub import LLMHub
from agent.run.modes import get_mode
from agent.run.question import run_question, validate_question

Progress = Callable[[float, str], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)
MAX_K = 50


class UsageOut(BaseModel):
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(
            llm_calls=usage.llm_calls, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
        )


class ToolAnswer(BaseModel):
    """Every answering tool's structured result: the answer (None for plain search), its citations, the usage."""

    answer: str | None = None
    mode: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    usage: UsageOut = Field(default_factory=UsageOut)


class CollectionStats(BaseModel):
    name: str
    chunks: int


class GraphStats(BaseModel):
    entities: int = 0
    triples: int = 0
    relations: int = 0


class Stats(BaseModel):
    collections: list[CollectionStats] = Field(default_factory=list)
    graph: GraphStats = Field(default_factory=GraphStats)


class IngestResult(BaseModel):
    collection: str
    files: int = 0
    chunks_added: int = 0
    skipped: list[str] = Field(default_factory=list)


def scrub(model: M) -> M:
    """The same model with every known secret, bearer token and API key redacted (results leave the process)."""
    return type(model).model_validate_json(redact(model.model_dump_json()))


def _describe(event: Any) -> str | None:
    """A one-line progress message for the events worth reporting while ``ask`` runs."""
    if isinstance(event, LlmCall):
        return f"{event.role} call ({event.completion_tokens} tokens)"
    if isinstance(event, Plan):
        return f"planner: next {event.next}"
    if isinstance(event, ToolCallEvent):
        return f"calling {event.name}"
    return None


class LodestarService:
    """One per server process; ``hub`` must be entered (the CLI keeps it open for the process's life)."""

    def __init__(self, hub: LLMHub, *, ingest_roots: list[Path] | None = None) -> None:
        self.hub = hub
        self.settings: Settings = hub.settings
        self.ingest_roots = [r.expanduser().resolve() for r in ingest_roots or []]
        self._probed = False
        self._probe_lock = asyncio.Lock()

    async def _probe_once(self) -> None:
        async with self._probe_lock:
            if not self._probed:
                await self.hub.probe_all()
                self._probed = True

    async def ask(self, question: str, mode: str, progress: Progress | None = None) -> ToolAnswer:
        question = validate_question(question)
        spec = get_mode(mode)
        spec.preflight(self.settings)
        if spec.needs_probe:
            await self._probe_once()
        trace = Trace(self.settings.traces_dir)
        pump = _ProgressPump(progress) if progress is not None else None
        if pump is not None:
            trace.add_sink(pump.sink)
        try:
            result = await run_question(question, mode, self.hub, trace=trace)
        finally:
            trace.close()
            if pump is not None:
                await pump.close()
        return scrub(
            ToolAnswer(answer=result.answer, mode=mode, citations=result.citations, usage=UsageOut.of(result.usage))
        )

    async def search_documents(self, query: str, k: int | None) -> ToolAnswer:
        from rag.retrieve import retrieve

        if not query.strip():
            raise BadInputError("the query is empty")
        if k is not None and not 1 <= k <= MAX_K:
            raise BadInputError(f"k must be between 1 and {MAX_K}, not {k}")
        docs = await retrieve(query, self.settings, top_k=k)
        citations = [Citation(id=d.id, kind="chunk", source=d.source, text=d.text) for d in docs]
        return scrub(ToolAnswer(citations=citations))

    async def query_graph(self, question: str) -> ToolAnswer:
        from kg.mode import query_graph

        question = validate_question(question)
        await self._probe_once()
        with Trace(self.settings.traces_dir) as trace:
            found = await query_graph(question, hub=self.hub, trace=trace)
            usage = UsageOut.of(trace.usage)
        return scrub(ToolAnswer(answer=found.answer, mode="kg", citations=found.citations, usage=usage))

    async def graph_entity(self, name: str) -> ToolAnswer:
        from kg.cli import resolve_entity
        from kg.mode import cite
        from kg.stores.base import triple
        from kg.stores.open import open_store

        if not name.strip():
            raise BadInputError("name an entity")
        store = open_store(self.settings.home, self.settings.kg)  # whichever [kg] backend is configured
        try:
            nodes = await resolve_entity(store, name.strip())
            around = await store.relations(nodes)
            requests = [
                (node, relation, head)
                for node in nodes
                for head, relations in zip((True, False), around.get(node, ([], [])), strict=True)
                for relation in relations
            ]
            found = await store.neighbours(requests)
            triples = [
                triple(store, node, relation, other) if head else triple(store, other, relation, node)
                for (node, relation, head), others in zip(requests, found, strict=True)
                for other in others
            ]
            names = ", ".join(store.name(n) for n in nodes)
        finally:
            await store.aclose()
        summary = f"{names}: {len(triples)} triple{'s' if len(triples) != 1 else ''}"
        return scrub(ToolAnswer(answer=summary, mode="kg", citations=cite(triples)))

    async def stats(self) -> Stats:
        return await asyncio.to_thread(self._stats)

    def _stats(self) -> Stats:
        from rag.store import get_client

        stats = Stats()
        client = get_client(self.settings)
        for item in client.list_collections():
            raw = client.get_collection(name=getattr(item, "name", str(item)), embedding_function=None)
            stats.collections.append(CollectionStats(name=raw.name, chunks=int(raw.count())))
        try:
            found = asyncio.run(self._graph_stats())  # a worker thread (see stats): no loop of its own
        except BadInputError:  # no graph loaded: zero counts, not an error
            return scrub(stats)
        stats.graph = GraphStats(entities=found.entities or 0, triples=found.triples, relations=found.relations)
        return scrub(stats)

    async def _graph_stats(self) -> Any:
        from kg.stores.open import open_store

        store = open_store(self.settings.home, self.settings.kg)
        try:
            return await store.stats()
        finally:
            await store.aclose()

    async def ingest(self, paths: list[str], collection: str | None) -> IngestResult:
        from rag.ingest import ingest_paths
        from tools.builtins import safe_path

        if not self.ingest_roots:
            raise BadInputError("ingest is off: start the server with --allow-ingest ROOT")
        if not paths:
            raise BadInputError("name at least one path")
        chosen = [str(self._confine(p, safe_path)) for p in paths]
        report = await asyncio.to_thread(ingest_paths, chosen, self.settings, collection=collection)
        return scrub(
            IngestResult(
                collection=report.collection,
                files=report.files,
                chunks_added=report.chunks_added,
                skipped=[f"{s.path}: {s.reason}" for s in report.skipped],
            )
        )

    def _confine(self, requested: str, safe_path: Callable[[Path, str], Path]) -> Path:
        """``requested`` resolved inside one of the ``--allow-ingest`` roots (relative paths: against each root)."""
        for root in self.ingest_roots:
            try:
                return safe_path(root, requested)
            except LodestarError:
                continue
        raise BadInputError(f"{requested!r} is outside the folders this server may ingest")


class _ProgressPump:
    """Trace events -> MCP progress notifications, in order, sent by one task so the run never waits on them.

    The sink may be called from worker threads (some stages emit there), hence call_soon_threadsafe.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        self.count = 0
        self.task = asyncio.ensure_future(self._drain())

    def sink(self, event: Any) -> None:
        message = _describe(event)
        if message is not None:
            self.count += 1
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (float(self.count), message))

    async def _drain(self) -> None:
        while (item := await self.queue.get()) is not None:
            try:
                await self.progress(*item)
            except Exception:  # a client that went away must not break the run
                continue

    async def close(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
        await self.task
