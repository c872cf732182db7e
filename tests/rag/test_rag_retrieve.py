"""Retrieval (vector and hybrid BM25 + vector by RRF) and search_documents / answer_rag over the fake server."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.config import Settings
from agent.core.errors import BadInputError
from agent.core.trace import Trace
from agent.llm.hub import LLMHub
from agent.run.question import run_question
from agent.testing.fake_openai import FakeOpenAIServer
from rag.bm25 import BM25, rrf, tokenize
from rag.ingest import ingest_paths
from rag.main_rag import RagAgents
from rag.retrieve import bm25_index, open_for_search, retrieve
from rag.search import search_documents
from tests.rag_fixtures import FINAL, JUDGE, requests_with, script_final, script_predictor, write_corpus


def test_bm25_ranks_by_term_rarity_and_frequency() -> None:
    index = BM25(["a", "b", "c"], ["the lighthouse keeper", "a compass needle and compass rose", "the sea"])
    assert index.top("compass", 3) == [("b", pytest.approx(index.scores("compass")[1]))]
    assert [i for i, _ in index.top("lighthouse sea", 3)] in (["a", "c"], ["c", "a"])
    assert index.top("unknown words", 3) == []
    assert tokenize("The GPS, and the LORAN!") == ["gps", "loran"]


def test_rrf_fuses_rankings() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=60)
    assert [i for i, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


@pytest.fixture
def corpus(settings: Settings, tmp_path: Path) -> Path:
    folder = write_corpus(tmp_path / "docs")
    ingest_paths([str(folder)], settings)
    return folder


@pytest.mark.parametrize("hybrid", [False, True])
async def test_retrieve_finds_the_relevant_chunk(settings: Settings, corpus: Path, hybrid: bool) -> None:
    docs = await retrieve("Who built the Eddystone lighthouse in 1759?", settings, top_k=2, hybrid=hybrid)
    assert len(docs) == 2 and docs[0].source.endswith("lighthouse.md")
    assert docs[0].rank == 1 and docs[0].similarity > docs[1].similarity
    assert docs[0].title == "Eddystone Lighthouse"


async def test_hybrid_finds_exact_terms_and_gives_them_a_similarity(settings: Settings, tmp_path: Path) -> None:
    folder = write_corpus(
        tmp_path / "docs",
        {
            **{
                f"filler{i}.txt": f"General remarks number {i} about ships, sailing and the open ocean."
                for i in range(6)
            },
            "code.txt": "Part number XK-7734-QZ is the replacement gasket.",
        },
    )
    ingest_paths([str(folder)], settings)
    docs = await retrieve("XK-7734-QZ", settings, top_k=3, hybrid=True)
    hit = next(d for d in docs if d.source.endswith("code.txt"))
    assert hit.rank == 1 and hit.similarity != 0.0


async def test_bm25_cache_is_invalidated_by_ingest(settings: Settings, corpus: Path) -> None:
    store = open_for_search(settings)
    first = bm25_index(settings, store)
    assert bm25_index(settings, open_for_search(settings)) is first  # cached
    (corpus / "new.txt").write_text("The astrolabe measured the altitude of stars.", encoding="utf-8")
    ingest_paths([str(corpus)], settings)
    second = bm25_index(settings, open_for_search(settings))
    assert second is not first and len(second) == 4


async def test_missing_or_empty_collection_is_bad_input(settings: Settings) -> None:
    with pytest.raises(BadInputError, match="no documents ingested in collection default: run `lodestar ingest"):
        await retrieve("anything", settings)


async def test_search_documents_emits_scores_and_cites_chunks(
    fake_server: FakeOpenAIServer, hub: LLMHub, settings: Settings, corpus: Path
) -> None:
    from agent.testing.fake_openai import Reply

    script_predictor(fake_server)
    fake_server.reply(
        Reply(content="Yes", top_logprobs={"Yes": -0.1, "No": -4.0}), system_contains=JUDGE, contains="Smeaton"
    )
    fake_server.reply(Reply(content="No", top_logprobs={"Yes": -3.0, "No": -0.1}), system_contains=JUDGE)
    script_final(fake_server, "John Smeaton built it [1].")
    trace = Trace()
    pieces: list[str] = []
    result = await search_documents(
        "Who built the Eddystone lighthouse?",
        agents=RagAgents.from_hub(hub, trace),
        settings=settings,
        top_k=3,
        trace=trace,
        on_delta=pieces.append,
    )
    assert result.answer == "John Smeaton built it [1]." and "".join(pieces) == result.answer
    assert len(result.docs) == 3 and result.scoring == "logprobs"
    assert len(result.kept) == 1 and result.citations[0].id == result.kept[0]
    citation = result.citations[0]
    assert citation.kind == "chunk" and citation.source.endswith("lighthouse.md") and "Smeaton" in citation.text
    events = [e for e in trace.events if e.type == "docs_scored"]
    assert len(events) == 1 and events[0].kept == result.kept and events[0].threshold == result.threshold
    order = [e.type for e in trace.events if e.type in ("docs_scored", "llm_call")]
    assert order[-2:] == ["docs_scored", "llm_call"]  # scores are out before Agent-3's answer
    assert {d.id for d in events[0].docs} >= set(result.kept)
    assert len(requests_with(fake_server, JUDGE)) == 3 and len(requests_with(fake_server, FINAL)) == 1


async def test_rag_mode_through_run_question(
    fake_server: FakeOpenAIServer, hub: LLMHub, settings: Settings, corpus: Path
) -> None:
    script_predictor(fake_server)
    script_final(fake_server, "GPS became operational in 1995 [1].")
    result = await run_question("When did GPS become operational?", "rag", hub)
    assert result.answer.startswith("GPS became operational") and result.citations
    assert all(c.kind == "chunk" for c in result.citations)
    assert result.trace_file and "docs_scored" in Path(result.trace_file).read_text()


async def test_lean_defaults_on_the_embedded_model(settings: Settings) -> None:
    local = settings.model_copy(update={"endpoints": {}})
    assert local.uses_local and local.rag.lean(True) == (4, 32)
    assert settings.rag.lean(False) == (settings.rag.top_k, settings.rag.predictor_max_tokens)
