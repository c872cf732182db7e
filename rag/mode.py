"""The "rag" answer mode: retrieval + MAIN-RAG over the configured collection (see ``agent.run.question``)."""

from __future__ import annotations

from collections.abc import Callable

from agent.core.trace import Answer, Trace
from agent.llm.hub import LLMHub
from rag.main_rag import RagAgents
from rag.search import search_documents


async def answer_rag(question: str, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None) -> Answer:
    """Answer ``question`` from the documents; the run's trace gets ``llm_call`` and ``docs_scored`` events."""
    result = await search_documents(
        question, agents=RagAgents.from_hub(hub, trace), settings=hub.settings, trace=trace, on_delta=on_delta
    )
    return Answer(text=result.answer, citations=result.citations)
