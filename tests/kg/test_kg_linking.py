"""Entity linking: marked spans, exact and alias n-grams, fuzzy matches, embeddings, the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.config import KgSettings
from kg.linking import link_entities
from tests.kg_fixtures import NAVIGATION, build_graph

OFF = {"link_embeddings": False}


@pytest.fixture
def graph():
    g = build_graph(NAVIGATION + [("Polaris", "located_in", "Ursa Minor"), ("Harrison", "is_a", "surname")])
    g.add_alias("H4", "Harrison's sea watch")
    g.add_alias("Polaris", "North Star")
    return g


async def names(graph, question: str, **settings) -> list[tuple[str, str]]:
    found = await link_entities(graph, question, KgSettings(**{**OFF, **settings}))
    return [(e.name, e.method) for e in found]


async def test_marked_spans_win(graph) -> None:
    assert await names(graph, "what did [John Harrison] invent besides H4") == [("John Harrison", "marked")]


async def test_longest_ngram_first_and_no_overlap(graph) -> None:
    # "John Harrison" is matched whole; the nested "Harrison" entity is not linked from the same words
    assert await names(graph, "Where was John Harrison born?") == [("John Harrison", "exact")]


async def test_aliases_and_case(graph) -> None:
    assert await names(graph, "which ship carried HARRISON'S SEA WATCH?") == [("H4", "alias")]
    assert await names(graph, "In which constellation is the north star?") == [("Polaris", "alias")]


async def test_several_entities_are_capped(graph) -> None:
    found = await names(graph, "Compare H3, H4 and Foulby", max_topic_entities=2)
    assert found == [("H3", "exact"), ("H4", "exact")]


async def test_fuzzy_match_for_typos(graph) -> None:
    assert await names(graph, "Where was Jon Harrisson born?") == [("John Harrison", "fuzzy")]
    assert await names(graph, "Where was Jon Harrisson born?", link_fuzzy_cutoff=100) == []


async def test_stopwords_alone_never_link() -> None:
    g = build_graph([("The", "is_a", "article"), ("It", "is_a", "film")])
    assert await names(g, "What is it and where is the thing?", link_fuzzy_cutoff=100) == []


async def test_embedding_fallback_and_cache(tmp_path: Path) -> None:
    g = build_graph([("marine chronometer", "invented_by", "John Harrison"), ("sextant", "used_for", "navigation")])
    settings = KgSettings(link_fuzzy_cutoff=100, link_embeddings=True, link_embedding_threshold=0.6)
    found = await link_entities(g, "who invented the sea clock chronometers?", settings, tmp_path)
    assert found and found[0].name == "marine chronometer" and found[0].method == "embedding"
    assert (tmp_path / "entity_embeddings.npz").is_file()
    g.touch()  # a changed graph gets new embeddings, not stale ones
    found = await link_entities(g, "who invented the sea clock chronometers?", settings, tmp_path)
    assert found[0].name == "marine chronometer"
