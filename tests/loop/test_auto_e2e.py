"""End to end on the embedded model (slow): `ask --mode auto` on the examples/ data stays short and cites."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.core.config import Settings

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_auto_mode_on_the_embedded_model_answers_briefly_with_citations(tmp_path: Path) -> None:
    from kg.ingest import load_aliases, load_triples
    from kg.store import graph_dir, open_or_new
    from rag.ingest import ingest_paths

    home = tmp_path / "home"
    ingest_paths([str(REPO / "examples" / "corpus")], Settings(home=home))
    graph = open_or_new(home)
    load_triples(graph, REPO / "examples" / "graph" / "navigation.tsv")
    load_aliases(graph, REPO / "examples" / "graph" / "aliases.tsv")
    graph.save(graph_dir(home))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LODESTAR_"))}
    env |= {"LODESTAR_HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(REPO)}

    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "app.py"),
            "ask",
            "--mode",
            "auto",
            "--json",
            "Who built the H4 marine chronometer?",
        ],
        cwd=tmp_path,  # no lodestar.toml here: no endpoint, so the embedded model answers
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["answer"].strip()
    assert result["usage"]["llm_calls"] <= 10
    assert result["citations"] and {c["kind"] for c in result["citations"]} <= {"chunk", "triple"}
