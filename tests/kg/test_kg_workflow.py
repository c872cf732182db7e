"""One graph-load workflow: the TUI's job reports exactly what ``lodestar kg load`` prints."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import app
from agent.core.config import load_settings
from ui.jobs import GraphRequest, load_graph


def _untimed(lines: list[str]) -> list[str]:
    return [re.sub(r" \(\d+\.\d\d s\)", "", line) for line in lines]


def test_cli_and_tui_load_the_same_way(home: Path, tmp_path: Path, capsys) -> None:
    triples = tmp_path / "g.tsv"
    triples.write_text("head\trelation\ttail\nA\tr\tB\nbad line\nB\ts\tC\n", encoding="utf-8")
    aliases = tmp_path / "aliases.tsv"
    aliases.write_text("A\tAlpha\nZ\tZed\n", encoding="utf-8")
    assert app.main(["kg", "load", str(triples), "--aliases", str(aliases)]) == 0
    printed = capsys.readouterr().out.splitlines()

    shutil.rmtree(home / "graph")
    steps: list[tuple[str, int]] = []
    shown = load_graph(
        GraphRequest(file=triples, aliases=aliases), load_settings(), lambda kind, n: steps.append((kind, n))
    )
    assert _untimed(shown) == _untimed(printed)
    assert len(printed) == 3 and "1 aliases added, 1 malformed lines skipped" in printed[1]
    assert steps == [("total", 3), ("advance", 1), ("advance", 1), ("advance", 1)]
