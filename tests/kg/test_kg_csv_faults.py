"""A CSV line with an unterminated quote is that line's error: the lines after it are kept (issue 15, item 3)."""

from __future__ import annotations

from pathlib import Path

import app
from kg.loaders import read_csv


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "t.csv"
    path.write_text(
        "head,relation,tail\n"
        "H4,made_by,John Harrison\n"
        '"Bad,made_by,Nobody\n'
        "John Harrison,born_in,Foulby\n"
        '"Quoted, name",born_in,"Somewhere, UK"\n',
        encoding="utf-8",
    )
    return path


def test_the_bad_line_is_reported_by_number_and_the_good_lines_kept(tmp_path: Path) -> None:
    items = list(read_csv(_write(tmp_path)))
    triples = [(i.head, i.relation, i.tail) for i in items if hasattr(i, "head")]
    bad = [(i.line, i.reason) for i in items if not hasattr(i, "head")]
    assert triples == [
        ("H4", "made_by", "John Harrison"),
        ("John Harrison", "born_in", "Foulby"),
        ("Quoted, name", "born_in", "Somewhere, UK"),
    ]
    assert bad == [(3, "bad CSV: unterminated quote")]


def test_kg_load_says_one_malformed_line(home: Path, tmp_path: Path, capsys) -> None:
    assert app.main(["kg", "load", str(_write(tmp_path))]) == 0
    out, err = capsys.readouterr()
    assert "3 triples added" in out and "1 malformed" in out
    assert ":3" in err or "line 3" in err, err
