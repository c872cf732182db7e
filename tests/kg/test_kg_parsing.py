"""Tolerant parsing of ToG's reply formats and the JSON schemas for structured mode."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kg.parsing import (
    entity_schema,
    extract_answer,
    parse_entity_scores,
    parse_relations,
    parse_sufficiency,
    relation_schema,
)

RELATIONS = ["born_in", "made_by", "people.person.place_of_birth", "successor_of"]


def test_relations_reference_format_with_quirks() -> None:
    text = (
        "1. {made_by (Score: 0.4))}: the maker.\n"  # ToG's own example has a doubled parenthesis
        "2. {born_in (Score: 0.35)}: birthplace.\n"
        "3. {made_by; born_in (Score: 0.1)}: a list, skipped as in ToG.\n"
        "4. {flies_to (Score: 0.2)}: not a candidate, dropped.\n"
        "5. {People.Person.Place_of_Birth (Score: .25)}: case differs."
    )
    assert parse_relations(text, RELATIONS, 3) == [
        ("made_by", 0.4),
        ("born_in", 0.35),
        ("people.person.place_of_birth", 0.25),
    ]


def test_relations_are_capped_at_width_and_deduplicated() -> None:
    text = "{made_by (Score: 0.2)} {born_in (Score: 0.5)} {made_by (Score: 0.9)} {successor_of (Score: 0.3)}"
    assert parse_relations(text, RELATIONS, 2) == [("born_in", 0.5), ("successor_of", 0.3)]


def test_relations_without_braces_are_still_read() -> None:
    assert parse_relations("1. made_by (Score: 0.7)\n2. born_in (Score: 0.3)", RELATIONS, 3) == [
        ("made_by", 0.7),
        ("born_in", 0.3),
    ]


def test_relations_without_any_match_prune_the_branch() -> None:
    assert parse_relations("I would look at who made it.", RELATIONS, 3) == []


def test_relations_named_in_prose_share_the_score() -> None:
    text = "The successor_of relation matters, and maybe made by; born in Yorkshire too."
    assert parse_relations(text, RELATIONS, 2) == [("successor_of", 0.5), ("made_by", 0.5)]


@pytest.mark.parametrize(
    "text,count,expected",
    [
        ("0.1, 0.7, 0.2\nThe second is best since 1.0 is the total.", 3, [0.1, 0.7, 0.2]),
        ("0, 1, 0", 3, [0.0, 1.0, 0.0]),
        ("Scores: 0.5 and 0.5 for the two.", 2, [0.5, 0.5]),
        ("0.5, 0.5", 3, None),
        ("no idea", 2, None),
    ],
)
def test_entity_scores(text: str, count: int, expected: list[float] | None) -> None:
    assert parse_entity_scores(text, count) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("{Yes}. The triplets show it. The answer is {Foulby}.", (True, "Foulby")),
        ("{ yes }.", (True, None)),
        ("{No}. The answer would be {Foulby} but we lack facts.", (False, None)),
        ("Yes, the answer is Foulby.", (True, None)),
        ("The triplet says {Yes}", (True, None)),
        ("Not sure. Maybe yes.", (False, None)),
        ("", (False, None)),
    ],
)
def test_sufficiency(text: str, expected: tuple[bool, str | None]) -> None:
    assert parse_sufficiency(text) == expected


def test_extract_answer_follows_tog_eval() -> None:
    assert extract_answer("{Yes}. It is {Salzburg}.") == "Salzburg"
    assert extract_answer("The answer is {Salzburg}.") == "Salzburg"
    assert extract_answer("Salzburg") is None


def test_schemas_restrict_relations_and_entity_counts() -> None:
    schema = relation_schema(RELATIONS, 3)
    assert schema.model_validate({"relations": [{"name": "made_by", "score": 0.5}]}).relations[0].name == "made_by"
    with pytest.raises(ValidationError):
        schema.model_validate({"relations": [{"name": "flies_to", "score": 0.5}]})
    assert "born_in" in str(schema.model_json_schema())
    scores = entity_schema(3)
    assert scores.model_validate({"scores": [0.1, 0.2, 0.7]}).scores == [0.1, 0.2, 0.7]
    with pytest.raises(ValidationError):
        scores.model_validate({"scores": [0.5, 0.5]})
