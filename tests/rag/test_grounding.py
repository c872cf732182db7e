"""Grounded answers: best-matching citation sentences (real embeddings) and quoted evidence over the fake endpoint."""

from __future__ import annotations

from pathlib import Path

from agent.core.config import Settings
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from rag import grounding
from rag.ingest import ingest_paths
from rag.main_rag import RagAgents
from rag.search import search_documents

REPO = Path(__file__).resolve().parents[2]
BOILERPLATE = "The document with the citations is [1]. The answer is: [2] The document with the citations is [3]."
QUESTION = "Which ship carried Harrison's H4 on its first sea trial?"


def test_boilerplate_is_dropped_and_content_kept() -> None:
    assert grounding.drop_boilerplate(BOILERPLATE) == ""
    assert (
        grounding.drop_boilerplate("The answer is: [2] HMS Deptford carried it [1].") == "HMS Deptford carried it [1]."
    )


def test_uses_evidence_needs_a_shared_content_word() -> None:
    evidence = ["H4 sailed to Jamaica aboard HMS Deptford in 1761."]
    assert grounding.uses_evidence("HMS Deptford [1].", evidence)
    assert not grounding.uses_evidence("A lodestone is a glowing stone that reflects light.", evidence)
    assert not grounding.uses_evidence("The document is [1].", evidence)


def test_best_sentence_is_the_one_closest_to_the_question() -> None:
    chunk = (
        "# Harrison's H4\n"
        "H4 is a large watch, 13 cm across, finished in 1759.\n"
        "On its first sea trial, H4 sailed to Jamaica aboard HMS Deptford in 1761. It lost only 5 seconds."
    )
    [(sentence, score)] = grounding.best_sentences(QUESTION, [chunk], Settings().rag.embedding_model)
    assert sentence == "On its first sea trial, H4 sailed to Jamaica aboard HMS Deptford in 1761."
    assert 0 < score <= 1


async def test_unsupported_answer_becomes_quoted_evidence(
    hub: LLMHub, fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    settings = hub.settings
    settings.rag.quote_unsupported = "on"
    settings.rag.top_k = 2
    ingest_paths([str(REPO / "examples" / "corpus" / "harrison-h4.md")], settings)
    fake_server.reply(Reply(content="Yes"), system_contains="noisy document evaluator")
    fake_server.reply(BOILERPLATE)

    found = await search_documents(QUESTION, agents=RagAgents.from_hub(hub), settings=settings)

    assert found.answer.startswith('Quoted evidence [1]: "')
    quoted_sentence = found.answer.split('"')[1]
    assert "Deptford" in quoted_sentence
    first = found.citations[0]
    assert first.quote == quoted_sentence and quoted_sentence in " ".join(first.text.split())
    assert all(c.quote for c in found.citations)  # every citation shows its best sentence, not its first line


async def test_supported_answer_is_kept(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    settings = hub.settings
    settings.rag.quote_unsupported = "on"
    settings.rag.top_k = 2
    ingest_paths([str(REPO / "examples" / "corpus" / "harrison-h4.md")], settings)
    fake_server.reply(Reply(content="Yes"), system_contains="noisy document evaluator")
    fake_server.reply("The answer is: HMS Deptford [1].")

    found = await search_documents(QUESTION, agents=RagAgents.from_hub(hub), settings=settings)

    assert found.answer == "HMS Deptford [1]."
