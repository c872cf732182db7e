"""``search_documents``: retrieval + MAIN-RAG in one call, the entry point for the RAG mode and the tools layer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import BaseModel, Field

from agent.core.config import Settings
from agent.core.trace import Citation, DocsScored, ScoredDoc, Trace
from rag import grounding
from rag.main_rag import JudgedDoc, RagAgents, main_rag
from rag.retrieve import retrieve


class DocumentAnswer(BaseModel):
    """An answer from the documents, with its provenance (what the tools layer shows the planner)."""

    answer: str
    citations: list[Citation] = Field(default_factory=list, description="kind='chunk', id = chunk id")
    docs: list[ScoredDoc] = Field(default_factory=list, description="every retrieved chunk with its MAIN-RAG score")
    kept: list[str] = Field(default_factory=list, description="chunk ids given to Agent-3, best first")
    threshold: float = 0.0
    n: float = 0.0
    scoring: str = ""


def citation_of(judged: JudgedDoc, quote: str = "") -> Citation:
    doc = judged.doc
    return Citation(id=doc.id, kind="chunk", source=doc.source, text=doc.text, quote=quote)


async def search_documents(
    question: str,
    *,
    agents: RagAgents,
    settings: Settings,
    top_k: int | None = None,
    collection: str | None = None,
    trace: Trace | None = None,
    on_delta: Callable[[str], None] | None = None,
) -> DocumentAnswer:
    """Retrieve ``top_k`` chunks of ``collection`` for ``question``, filter them with MAIN-RAG and answer.

    Emits a ``docs_scored`` event into ``trace`` (when given) and streams the final answer through ``on_delta``.
    Raises :class:`~agent.core.errors.BadInputError` when the collection is missing or empty. Defaults follow
    ``settings.rag``, leaner on the embedded model (fewer documents, shorter Agent-1 answers).
    """
    lean_top_k, predictor_tokens = settings.rag.lean(settings.uses_local)
    docs = await retrieve(question, settings, top_k=top_k or lean_top_k, collection=collection)

    def scored_docs(judged: list[JudgedDoc]) -> list[ScoredDoc]:
        return [ScoredDoc(id=j.doc.id, score=round(j.score, 6), source=j.doc.source, title=j.doc.title) for j in judged]

    def on_scored(judged: list[JudgedDoc], threshold: float, kept: list[JudgedDoc], scoring: str) -> None:
        if trace is not None:  # before Agent-3 starts: the scores show while the answer streams
            trace.emit(
                DocsScored(
                    docs=scored_docs(judged),
                    threshold=threshold,
                    n=settings.rag.n,
                    kept=[j.doc.id for j in kept],
                    scoring=scoring,
                )
            )

    result = await main_rag(
        question,
        docs,
        agents,
        settings.rag,
        predictor_max_tokens=predictor_tokens,
        on_delta=on_delta,
        on_scored=on_scored,
        small=settings.uses_local,
    )
    kept = result.kept or result.cited
    best = await asyncio.to_thread(
        grounding.best_sentences, question, [j.doc.text for j in kept], settings.rag.embedding_model
    )
    quotes = {j.doc.id: sentence for j, (sentence, _) in zip(kept, best, strict=True)}
    answer, cited = result.answer, list(result.cited)
    if settings.rag.quotes_unsupported(settings.uses_local):  # no boilerplate, no answer the evidence lacks
        answer = grounding.drop_boilerplate(answer)
        if not grounding.uses_evidence(answer, [j.doc.text for j in kept]) and best:
            top = max(range(len(kept)), key=lambda i: best[i][1])
            answer = grounding.quoted(best[top][0], 1)
            cited = [kept[top], *(j for j in cited if j is not kept[top])]
    return DocumentAnswer(
        answer=answer,
        citations=[citation_of(j, quotes.get(j.doc.id, "")) for j in cited],
        docs=scored_docs(result.docs),
        kept=[j.doc.id for j in result.kept],
        threshold=result.threshold,
        n=result.n,
        scoring=result.scoring,
    )
