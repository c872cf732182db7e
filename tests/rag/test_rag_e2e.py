"""End to end against the real llama.cpp server with the bundled SmolLM2-135M model (slow: kept tiny)."""

from __future__ import annotations

import pytest

from agent.core.config import Settings
from agent.core.trace import Trace
from agent.llm.hub import LLMHub
from rag.ingest import ingest_paths
from rag.mode import answer_rag
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

CORPUS = REPO / "examples" / "corpus"
FILES = ["eddystone-lighthouse.md", "gps-navstar.md", "lodestone.md"]


async def test_answer_rag_on_the_example_corpus(local_settings: Settings) -> None:
    paths = [str(CORPUS / name) for name in FILES if (CORPUS / name).exists()]
    assert paths, "examples/corpus is missing"
    # short chunks and few of them: the 135M model reads ~100 prompt tokens/s on 2 cores
    rag = local_settings.rag.model_copy(
        update={
            "top_k": 2,
            "predictor_max_tokens": 12,
            "final_max_tokens": 32,
            "chunk_tokens": 96,
            "chunk_overlap_tokens": 16,
        }
    )
    settings = local_settings.model_copy(update={"rag": rag})
    report = ingest_paths(paths, settings)
    assert report.chunks_added > 0
    trace = Trace()
    pieces: list[str] = []
    async with LLMHub(settings) as hub:
        answer = await answer_rag("Who designed the first Eddystone lighthouse?", hub, trace, pieces.append)
    assert answer.text.strip()
    assert "".join(pieces).strip() == answer.text.strip()
    assert answer.citations and all(c.kind == "chunk" and c.text and c.source for c in answer.citations)
    scored = [e for e in trace.events if e.type == "docs_scored"]
    assert len(scored) == 1 and len(scored[0].docs) == 2 and scored[0].kept
    assert scored[0].scoring in ("logprobs", "sampling", "verbal", "binary")
    assert {c.id for c in answer.citations} <= set(scored[0].kept)
