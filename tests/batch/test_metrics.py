"""Answer metrics: SQuAD normalisation, EM, token F1, accuracy (containment), Hits@1, and the batch totals.

Expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import pytest

from agent.batch.metrics import (
    Scoreboard,
    Tally,
    accuracy,
    exact_match,
    f1_score,
    first_entity,
    hits_at_1,
    normalize_answer,
    score,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Eiffel-Tower!", "eiffeltower"),  # lower, punctuation dropped (no space), article dropped
        ("\u201cAn\u201d apple, a day.", "apple day"),  # Unicode quotes are punctuation too
        ("  Theatre of the Absurd ", "theatre of absurd"),  # "the" only as a whole word
        ("A", ""),
    ],
)
def test_normalize_answer_follows_squad(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_takes_the_best_gold() -> None:
    assert exact_match("The Paris.", ["London", "paris"]) == 1.0
    assert exact_match("Paris, France", ["Paris"]) == 0.0


def test_f1_by_hand() -> None:
    # pred [big, red, barn] vs gold [red, barn, door]: 2 shared -> p = r = 2/3 -> F1 = 2/3
    assert f1_score("the big red barn", ["red barn door"]) == pytest.approx(2 / 3)
    # best gold wins: vs "william shakespeare" p = 2/4, r = 1 -> 2/3; vs "shakespeare" p = 1/4, r = 1 -> 0.4
    assert f1_score("William Shakespeare wrote it", ["Shakespeare", "William Shakespeare"]) == pytest.approx(2 / 3)
    assert f1_score("no overlap here", ["something else"]) == 0.0
    assert f1_score("", [""]) == 1.0 and f1_score("x", ["the"]) == 0.0  # empty after normalisation


def test_accuracy_is_containment_on_word_boundaries() -> None:
    assert accuracy("It was 1964.", ["1964"]) == 1.0
    assert accuracy("It was 1964.", ["1"]) == 0.0  # a plain substring test would say 1
    assert accuracy("The capital is Paris, of course", ["paris"]) == 1.0
    assert accuracy("anything", ["the"]) == 0.0  # a gold that normalises to nothing matches nothing


def test_first_entity_and_hits_at_1() -> None:
    assert first_entity("Francis Ford Coppola, Mario Puzo") == "Francis Ford Coppola"
    assert first_entity("Mario Puzo and Francis Ford Coppola") == "Mario Puzo"
    assert first_entity("Tom Hanks\nMeg Ryan") == "Tom Hanks"
    assert first_entity("Paris; Lyon") == "Paris"
    assert hits_at_1("Francis Ford Coppola, Mario Puzo", ["francis ford coppola"]) == 1.0
    assert hits_at_1("Mario Puzo and Francis Ford Coppola", ["Francis Ford Coppola"]) == 0.0
    assert hits_at_1("", ["x"]) == 0.0


def test_score_has_hits_at_1_only_in_kg_mode_and_nothing_without_gold() -> None:
    assert set(score("Paris", ["Paris"], mode="direct")) == {"em", "f1", "accuracy"}
    assert score("Paris", ["Paris"], mode="kg")["hits_at_1"] == 1.0
    assert score("Paris", [], mode="kg") == {}


def test_tally_means_skip_errors_and_unscored_lines() -> None:
    tally = Tally()
    for _ in range(4):
        tally.plan()
    tally.add({"em": 1.0, "f1": 1.0, "accuracy": 1.0, "usage": {"llm_calls": 2, "prompt_tokens": 10}})
    tally.add({"em": 0.0, "f1": 0.5, "accuracy": 1.0, "usage": {"llm_calls": 1, "cache_hits": 1}})
    tally.add({"usage": {"llm_calls": 1}})  # answered, no gold
    tally.add({"error": "boom", "usage": {"llm_calls": 3}})
    summary = tally.summary()
    assert summary["total"] == 4 and summary["answered"] == 3 and summary["errors"] == 1
    assert summary["scored"] == 2
    assert summary["em"] == 0.5 and summary["f1"] == 0.75 and summary["accuracy"] == 1.0
    assert summary["hits_at_1"] is None
    assert summary["llm_calls"] == 7 and summary["prompt_tokens"] == 10 and summary["cache_hits"] == 1


def test_scoreboard_splits_by_mode() -> None:
    board = Scoreboard()
    for mode in ("direct", "kg", "kg"):
        board.plan(mode)
    board.add({"mode": "direct", "em": 1.0, "f1": 1.0, "accuracy": 1.0})
    board.add({"mode": "kg", "em": 0.0, "f1": 0.0, "accuracy": 0.0, "hits_at_1": 1.0})
    summary = board.summary()
    assert summary["total"] == 3 and summary["answered"] == 2
    assert summary["em"] == 0.5 and summary["hits_at_1"] == 1.0
    assert summary["by_mode"]["kg"]["total"] == 2 and summary["by_mode"]["kg"]["answered"] == 1
    assert summary["by_mode"]["direct"]["hits_at_1"] is None
