"""``kg load | stats | show | rebuild | reset`` and ``ask --mode kg`` with ``[kg] backend`` = oxigraph or sparql."""

from __future__ import annotations

from pathlib import Path

import pytest

import app
from agent.testing.fake_openai import FakeOpenAIServer
from tests.conftest import REPO, write_config
from tests.kg.oxigraph_server import OxigraphServer
from tests.kg.test_kg_backends import as_ntriples
from tests.kg_fixtures import Explorer


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = app.main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def oxigraph_config(home: Path, fake_server: FakeOpenAIServer) -> Path:
    return write_config(home.parent / "lodestar.toml", fake_server.base_url, extra='[kg]\nbackend = "oxigraph"\n')


def test_oxigraph_load_stats_show_rebuild_reset(home: Path, oxigraph_config: Path, tmp_path: Path, capsys) -> None:
    graph = REPO / "examples/graph/navigation.tsv"
    code, out, err = run(
        capsys, oxigraph_config, "kg", "load", str(graph), "--aliases", str(REPO / "examples/graph/aliases.tsv")
    )
    assert code == 0, err
    assert (home / "graph" / "oxigraph").is_dir() and "aliases added" in out
    code, out, _ = run(capsys, oxigraph_config, "kg", "load", str(graph))
    assert code == 0 and "0 triples added" in out and " 0 duplicates" not in out
    code, out, _ = run(capsys, oxigraph_config, "kg", "stats")
    assert code == 0 and "backend:   oxigraph" in out and "top relations:" in out and "http" not in out
    code, out, _ = run(capsys, oxigraph_config, "kg", "show", "harrison's", "sea", "watch")  # an alias
    assert code == 0 and out.startswith("H4") and "—made_by→ John Harrison" in out
    code, _, err = run(capsys, oxigraph_config, "kg", "show", "Jon", "Harison")
    assert code == 2 and "did you mean: John Harrison" in err
    bad = tmp_path / "bad.nt"
    bad.write_text("<http://e.org/a> <http://e.org/b> .\n", encoding="utf-8")
    code, _, err = run(capsys, oxigraph_config, "kg", "load", str(bad))
    assert code == 2 and "bad.nt:1" in err and "nothing loaded" in err
    code, out, err = run(capsys, oxigraph_config, "kg", "rebuild")
    assert code == 0 and "(rebuilt)" in out, err
    code, out, _ = run(capsys, oxigraph_config, "kg", "show", "H4")
    assert code == 0 and "—made_by→ John Harrison" in out
    assert run(capsys, oxigraph_config, "kg", "reset")[0] == 0 and not (home / "graph").exists()
    code, _, err = run(capsys, oxigraph_config, "kg", "stats")
    assert code == 2 and "no graph loaded" in err


def test_ask_over_a_sparql_endpoint_on_a_fresh_home(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys
) -> None:
    with OxigraphServer(as_ntriples(tmp_path / "g.nt"), tmp_path / "store") as server:
        config = write_config(
            home.parent / "lodestar.toml",
            fake_server.base_url,
            extra=f'[kg]\nbackend = "sparql"\nsparql_endpoint = "{server.url}"\nlink_embeddings = false\n'
            'output_format = "text"\n',
        )
        fake_server.reply(Explorer(relations=["made_by", "born_in"], sufficient_when="John Harrison, born_in, Foulby"))
        code, out, err = run(capsys, config, "ask", "--mode", "kg", "Where was the maker of H4 born?")
        assert code == 0, err
        assert "Foulby" in out and "example.org" not in out and not (home / "graph").exists()
        code, out, _ = run(capsys, config, "kg", "show", "John Harrison")
        assert code == 0 and "←made_by— H3; H4" in out
        code, _, err = run(capsys, config, "kg", "load", str(REPO / "examples/graph/navigation.tsv"))
        assert code == 2 and "read-only" in err
    code, _, err = run(capsys, config, "kg", "show", "H4")  # the endpoint is gone now
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_sparql_backend_needs_an_endpoint(home: Path, fake_server: FakeOpenAIServer, capsys) -> None:
    config = write_config(home.parent / "lodestar.toml", fake_server.base_url, extra='[kg]\nbackend = "sparql"\n')
    code, _, err = run(capsys, config, "kg", "stats")
    assert code == 2 and "kg.sparql_endpoint" in err
    config.write_text(config.read_text() + 'sparql_endpoint = "ftp://x"\n')
    code, _, err = run(capsys, config, "kg", "stats")
    assert code == 2 and "sparql_endpoint" in err
