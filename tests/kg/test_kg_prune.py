"""Cheap pruning: BM25 and embedding scores, normalised like the LLM's."""

from __future__ import annotations

import pytest

from kg.prune import bm25_scores, normalise, rank, tokens

RELATIONS = ["born_in", "completed_in_year", "made_by", "people.person.placeOfBirth", "sailed_to"]


def test_tokens_split_snake_and_camel_case_and_drop_stopwords() -> None:
    assert tokens("people.person.placeOfBirth") == ["peopl", "perso", "place", "birth"]
    assert tokens("Where was the maker of H4 born?") == ["maker", "h4", "born"]


def test_bm25_prefers_lexical_overlap() -> None:
    scores = bm25_scores("Where was he born?", RELATIONS)
    assert scores.index(max(scores)) == 0 and scores[2] == 0.0


def test_normalise_floors_and_sums_to_one() -> None:
    out = normalise([3.0, 0.0, 1.0])
    assert sum(out) == pytest.approx(1.0) and out[1] > 0 and out[0] > out[2] > out[1]
    assert normalise([0.0, 0.0]) == [0.5, 0.5] and normalise([]) == []


async def test_rank_bm25_and_embedding() -> None:
    lexical = await rank("bm25", "In which year was it completed?", RELATIONS, "all-MiniLM-L6-v2")
    assert lexical.index(max(lexical)) == 1 and sum(lexical) == pytest.approx(1.0)
    semantic = await rank("embedding", "Where did the ship travel?", RELATIONS, "all-MiniLM-L6-v2")
    assert semantic.index(max(semantic)) == 4  # sailed_to, with no word in common
