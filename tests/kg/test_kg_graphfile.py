"""The graph file cannot run code; old pickles are reported with the rebuild command and never unpickled;
stale temporaries of a killed save are cleaned; a corrupt graph has a working remedy; empty loads fail."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

import app
from agent.core.errors import BadInputError
from kg import graphfile
from kg.store import GRAPH_FILE, KnowledgeGraph, open_graph
from tests.kg_fixtures import NAVIGATION, build_graph


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = app.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def plant_malicious_pickle(graph_dir: Path, marker: Path, source: Path) -> None:
    graph_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "version": 1,
        "graph": _Payload(marker),
        "index": {},
        "revision": "r",
        "sources": [{"file": str(source), "format": "tsv", "added": 2, "at": 0.0}],
        "saved_at": 0.0,
    }
    (graph_dir / graphfile.LEGACY_FILE).write_bytes(pickle.dumps(payload, protocol=5))
    assert not marker.exists()


def test_a_planted_malicious_pickle_is_never_executed(home: Path, tmp_path: Path, capsys) -> None:
    source = tmp_path / "g.tsv"
    source.write_text("A\tr\tB\nB\ts\tC\n", encoding="utf-8")
    marker = tmp_path / "pwned"
    plant_malicious_pickle(home / "graph", marker, source)
    with pytest.raises(BadInputError, match="old-format graph.*was not loaded.*lodestar kg rebuild") as caught:
        open_graph(home)
    assert str(source) in str(caught.value)
    for argv in (("kg", "stats"), ("kg", "show", "A"), ("kg", "load", str(source))):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "lodestar kg rebuild" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()
    code, out, err = run(capsys, "kg", "rebuild")  # the sources come from the pickle's opcodes, not unpickling
    assert code == 0, err
    assert "2 triples" in out and not marker.exists()
    assert not (home / "graph" / graphfile.LEGACY_FILE).exists()
    assert open_graph(home).num_triples == 2


def test_the_graph_file_holds_no_pickle_and_round_trips(tmp_path: Path) -> None:
    graph = build_graph(NAVIGATION)
    graph.add_triple("H4", "named_after", "H3", None, None)  # a second relation between the same pair
    graph.add_triple("_:b0", "part_of", "H4", None, None)  # an unnamed node
    graph.add_alias("H4", "sea watch")
    path = graph.save(tmp_path)
    import numpy as np

    with np.load(path, allow_pickle=False) as data:  # every array loads without pickle
        assert {data[k].dtype.kind for k in data.files} <= {"u", "i"}
    loaded = KnowledgeGraph.load(tmp_path)
    assert sorted(loaded.g.edges(keys=True)) == sorted(graph.g.edges(keys=True))
    assert sorted(loaded.relations("H3")[1]) == ["named_after", "successor_of"]
    assert loaded.name("_:b0") == "UnName_Entity" and loaded.lookup("sea watch") == ["H4"]
    assert loaded.neighbours("H4", "carried_on", True) == ["HMS Deptford", "HMS Tartar"]


def test_a_killed_saves_temporaries_are_cleaned_on_the_next_save(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    dead = tmp_path / ".graph-999999999-x.tmp"  # a pid that cannot be running
    old_style = tmp_path / ".graph-abc123.tmp"  # left by an older Lodestar
    alive = tmp_path / f".graph-{os.getppid()}-y.tmp"  # a save in progress in another process
    for path in (dead, old_style, alive):
        path.write_bytes(b"partial")
    build_graph(NAVIGATION).save(tmp_path)
    assert not dead.exists() and not old_style.exists() and alive.exists()


@pytest.mark.parametrize(
    ("content", "extra"),
    [("bad\nworse line\n", ()), ("A\tr\tB\n", ("--format", "csv")), ("", ())],
    ids=["all-malformed", "wrong-format", "empty"],
)
def test_load_that_loads_nothing_exits_2_and_saves_nothing(
    home: Path, tmp_path: Path, capsys, content: str, extra: tuple[str, ...]
) -> None:
    path = tmp_path / "g.tsv"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "kg", "load", str(path), *extra)
    assert code == 2 and "nothing could be loaded" in err and "Traceback" not in err
    assert not (home / "graph" / GRAPH_FILE).exists() and not (home / "graph" / graphfile.SOURCES_FILE).exists()


def test_a_corrupt_graph_is_repaired_by_the_command_the_error_names(home: Path, tmp_path: Path, capsys) -> None:
    source = tmp_path / "g.tsv"
    source.write_text("A\tr\tB\n", encoding="utf-8")
    assert run(capsys, "kg", "load", str(source))[0] == 0
    (home / "graph" / GRAPH_FILE).write_bytes(b"PK\x03\x04 truncated")
    code, _, err = run(capsys, "kg", "load", str(source))
    assert code == 2 and "lodestar kg rebuild" in err and "lodestar kg reset" in err
    code, out, err = run(capsys, "kg", "rebuild")
    assert code == 0, err
    code, out, _ = run(capsys, "kg", "stats")
    assert code == 0 and "triples:   1" in out
    (home / "graph" / GRAPH_FILE).write_bytes(b"garbage")
    code, out, _ = run(capsys, "kg", "reset")
    assert code == 0 and not (home / "graph").exists()
    assert run(capsys, "kg", "load", str(source))[0] == 0


def test_rebuild_without_sources_says_what_to_do(home: Path, capsys) -> None:
    code, _, err = run(capsys, "kg", "rebuild")
    assert code == 2 and "kg reset" in err and "kg load FILE" in err


def test_turtle_loads_as_it_is(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.ttl"
    path.write_text(
        "@prefix ex: <http://example.org/> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        'ex:H4 ex:made_by ex:John_Harrison ; rdfs:label "H4 chronometer"@en .\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "kg", "load", str(path))
    assert code == 0, err
    code, out, _ = run(capsys, "kg", "show", "H4 chronometer")
    assert code == 0 and "—made_by→ John Harrison" in out
