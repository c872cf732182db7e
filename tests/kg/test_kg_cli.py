"""``lodestar kg load | stats | show`` through ``app.main`` with exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

import app
from kg.store import GRAPH_FILE
from tests.conftest import REPO


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = app.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_load_reports_counts_and_persists(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("head\trelation\ttail\nA\tr\tB\nA\tr\tB\nbad line\nB\ts\tC\n", encoding="utf-8")
    code, out, err = run(capsys, "kg", "load", str(path))
    assert code == 0
    assert "2 triples added, 1 duplicates, 1 malformed lines skipped" in out
    assert f"{path}:4: expected 3 tab-separated fields" in err
    assert (home / "graph" / GRAPH_FILE).is_file()
    code, out, _ = run(capsys, "kg", "load", str(path))
    assert code == 0 and "0 triples added, 3 duplicates" in out and "3 entities, 2 triples" in out


def test_strict_load_fails_with_the_line_and_saves_nothing(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("A\tr\tB\nbad line\n", encoding="utf-8")
    code, _, err = run(capsys, "kg", "load", str(path), "--strict")
    assert code == 2 and "g.tsv:2:" in err and "Traceback" not in err
    assert not (home / "graph" / GRAPH_FILE).exists()


def test_load_errors_are_one_line(home: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "kg", "load", str(tmp_path / "missing.tsv"))
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "g.bin").write_text("x", encoding="utf-8")
    code, _, err = run(capsys, "kg", "load", str(tmp_path / "g.bin"))
    assert code == 2 and "--format" in err


def test_example_graph_with_aliases_stats_and_show(home: Path, capsys) -> None:
    code, out, err = run(
        capsys,
        "kg",
        "load",
        str(REPO / "examples/graph/navigation.tsv"),
        "--aliases",
        str(REPO / "examples/graph/aliases.tsv"),
    )
    assert code == 0 and "0 malformed lines skipped" in out and "aliases added" in out, err
    code, out, _ = run(capsys, "kg", "stats")
    assert code == 0 and "entities:" in out and "top relations:" in out
    code, out, _ = run(capsys, "kg", "show", "harrison's", "sea", "watch")  # an alias, any case
    assert code == 0 and out.startswith("H4") and "—made_by→ John Harrison" in out


def test_show_unknown_entity_suggests_close_matches(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("John Harrison\tinvented\tmarine chronometer\n", encoding="utf-8")
    run(capsys, "kg", "load", str(path))
    code, _, err = run(capsys, "kg", "show", "Jon", "Harison")
    assert code == 2 and "unknown entity 'Jon Harison'" in err and "did you mean: John Harrison" in err


def test_stats_and_show_without_a_graph(home: Path, capsys) -> None:
    for argv in (("kg", "stats"), ("kg", "show", "H4")):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "no graph loaded: run `lodestar kg load FILE`" in err


def test_many_malformed_lines_are_all_accounted_for(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.tsv"
    path.write_text("A\tr\tB\n" + "".join(f"bad {i}\n" for i in range(25)), encoding="utf-8")
    code, out, err = run(capsys, "kg", "load", str(path))
    assert code == 0 and "1 triples added, 0 duplicates, 25 malformed lines skipped" in out
    detailed = [line for line in err.splitlines() if "expected 3 tab-separated fields" in line]
    assert len(detailed) == 20
    assert "5 more malformed lines" in err and "lines 22, 23, 24, 25, 26" in err


def test_n_triples_load_by_extension(home: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.nt"
    path.write_text(
        "<http://ex.org/Sextant> <http://ex.org/replaced> <http://ex.org/Octant> .\n"
        '<http://ex.org/Sextant> <http://www.w3.org/2000/01/rdf-schema#label> "sextant"@en .\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "kg", "load", str(path))
    assert code == 0 and "1 triples added" in out and "1 names set" in out
    code, out, _ = run(capsys, "kg", "show", "sextant")
    assert code == 0 and "—replaced→ Octant" in out and "[http://ex.org/Sextant]" in out
