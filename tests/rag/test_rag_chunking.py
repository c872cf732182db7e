"""rag/chunking.py with the real all-MiniLM-L6-v2 tokenizer: structure first, never over the model's window."""

from __future__ import annotations

import itertools
import random

import pytest

from rag.chunking import Chunker
from rag.embed import Embedder, get_embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder("all-MiniLM-L6-v2")


def chunker(embedder: Embedder, size: int = 200, overlap: int = 32) -> Chunker:
    return Chunker(
        embedder.offsets,
        max_tokens=min(size, embedder.content_tokens),
        overlap=overlap,
        count=embedder.count_tokens,
        hard_limit=embedder.content_tokens,
    )


def pieces(embedder: Embedder, text: str) -> int:
    return len(embedder.tokenizer(text)["input_ids"])  # with [CLS] and [SEP], as the model sees it


def test_window_is_256_word_pieces(embedder: Embedder) -> None:
    assert embedder.max_tokens == 256 and embedder.content_tokens == 254


def test_chunks_are_exact_substrings_with_offsets(embedder: Embedder) -> None:
    text = "# Title\n\nFirst paragraph. It has two sentences.\n\n## Part two\n\nSecond paragraph here.\n"
    chunks = chunker(embedder).chunk(text)
    assert len(chunks) == 1 and chunks[0].text == text.strip()
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text


def test_headings_start_chunks(embedder: Embedder) -> None:
    body = " ".join(f"Sentence {i} talks about the harbour and the tides." for i in range(25))
    text = f"# Alpha\n\n{body}\n\n# Beta\n\n{body}\n\n# Gamma\n\n{body}\n"
    chunks = chunker(embedder, size=200, overlap=0).chunk(text)
    starts = [c.text.split("\n", 1)[0] for c in chunks]
    assert "# Alpha" in starts and "# Beta" in starts and "# Gamma" in starts
    assert {c.section for c in chunks} == {"Alpha", "Beta", "Gamma"}
    for c in chunks:
        assert c.text.count("# ") <= 1  # no chunk straddles two sections here


def test_long_paragraphs_split_at_sentences_with_overlap(embedder: Embedder) -> None:
    sentences = [f"Sentence number {i} describes a different lighthouse keeper." for i in range(80)]
    text = " ".join(sentences)
    chunks = chunker(embedder, size=100, overlap=20).chunk(text)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith(".")  # sentence boundaries
        assert pieces(embedder, chunk.text) <= 100 + 2
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # consecutive chunks overlap
        assert b.start >= a.start


def test_no_chunk_exceeds_the_window_even_without_structure(embedder: Embedder) -> None:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzäöü0123456789"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 18))) for _ in range(3000)]
    text = " ".join(words)  # no punctuation, no lines: only word-piece windows can split it
    chunks = chunker(embedder, size=256, overlap=64).chunk(text)
    assert len(chunks) > 10
    assert max(pieces(embedder, c.text) for c in chunks) <= 256
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())  # nothing dropped


def test_empty_text_gives_no_chunks(embedder: Embedder) -> None:
    assert chunker(embedder).chunk("  \n\n ") == []


def test_counting_is_not_truncated_by_encoding(embedder: Embedder) -> None:
    long_text = "navigation " * 600
    embedder.encode(["warm up: this sets truncation on the model's own tokenizer"])
    assert embedder.count_tokens([long_text])[0] == 600
    assert len(embedder.offsets(long_text)) == 600
