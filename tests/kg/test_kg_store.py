"""The graph store: neighbour lookups, names and aliases, persistence and the in-process cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import BadInputError
from kg.store import GRAPH_FILE, KnowledgeGraph, Triple, normalize, open_graph
from tests.kg_fixtures import NAVIGATION, build_graph


def test_normalize_folds_case_accents_and_punctuation() -> None:
    assert normalize("  Café—Harrison's  H4! ") == "cafe harrison s h4"


def test_relations_and_neighbours_by_direction() -> None:
    graph = build_graph(NAVIGATION)
    heads, tails = graph.relations("John Harrison")
    assert heads == ["born_in", "invented", "occupation"] and tails == ["made_by"]
    assert sorted(graph.neighbours("John Harrison", "made_by", False)) == ["H3", "H4"]
    assert sorted(graph.neighbours("John Harrison", "invented", True)) == [
        "grasshopper escapement",
        "gridiron pendulum",
    ]
    assert graph.neighbours("John Harrison", "made_by", True) == []


def test_neighbour_cache_sees_new_edges() -> None:
    graph = build_graph(NAVIGATION)
    assert graph.neighbours("H4", "carried_on", True) == ["HMS Deptford", "HMS Tartar"]
    graph.add_triple("H4", "carried_on", "HMS Beagle", None, "HMS Beagle")
    assert "HMS Beagle" in graph.neighbours("H4", "carried_on", True)
    assert "carried_on" in graph.relations("HMS Beagle")[1]


def test_second_name_becomes_an_alias_and_ambiguous_names_list_all() -> None:
    graph = KnowledgeGraph()
    graph.add_triple("q1", "r", "q2", "Mercury", "Sun")
    graph.add_triple("q3", "r", "q2", "Mercury", "The Sun")
    assert sorted(graph.lookup("mercury")) == ["q1", "q3"]
    assert graph.name("q2") == "Sun" and graph.aliases("q2") == ["The Sun"] and graph.lookup("the sun") == ["q2"]


def test_triple_ids_and_text() -> None:
    triple = Triple("H4", "made_by", "John Harrison")
    assert triple.id == "H4|made_by|John Harrison" and triple.text() == "H4 —made_by→ John Harrison"


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    graph = build_graph(NAVIGATION)
    graph.add_alias("H4", "Harrison's watch")
    graph.save(tmp_path)
    loaded = KnowledgeGraph.load(tmp_path)
    assert sorted(loaded.g.edges(keys=True)) == sorted(graph.g.edges(keys=True))
    assert loaded.lookup("harrisons watch") == [] and loaded.lookup("harrison s watch") == ["H4"]
    assert loaded.revision == graph.revision
    assert not list(tmp_path.glob(".graph-*"))  # the temp file was renamed, not left behind


def test_open_graph_caches_until_the_file_changes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_graph(NAVIGATION).save(home / "graph")
    first = open_graph(home)
    assert open_graph(home) is first
    changed = build_graph(NAVIGATION[:3])
    changed.save(home / "graph")
    assert open_graph(home).num_triples == 3


def test_missing_or_broken_graph_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no graph loaded: run `lodestar kg load FILE`"):
        open_graph(tmp_path)
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / GRAPH_FILE).write_bytes(b"not a pickle")
    with pytest.raises(BadInputError, match="cannot read the graph"):
        KnowledgeGraph.load(tmp_path / "graph")
