"""`lodestar mcp` driven by the official SDK's own client over stdio and Streamable HTTP (real processes)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from agent.core.config import load_settings
from agent.testing.fake_openai import FakeOpenAIServer
from rag.ingest import ingest_paths
from tests.conftest import write_config
from tests.mcp_fixtures import APP, child_env, free_port, http_process, python_children
from tests.rag_fixtures import write_corpus

SECRET = "sk-test-secret-123456789"  # write_config's key: must never come back in a result


@pytest.fixture
def served(home: Path, fake_server: FakeOpenAIServer) -> tuple[Path, Path]:
    """A config pointing at the fake endpoint, and the test corpus ingested into the home folder."""
    config = write_config(home.parent / "lodestar.toml", fake_server.base_url)
    settings = load_settings(config)
    ingest_paths([str(write_corpus(home.parent / "corpus"))], settings)
    return config, home


def stdio_params(config: Path, home: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=[APP, "--config", str(config), "mcp", *extra], env=child_env(home), cwd=home.parent
    )


@asynccontextmanager
async def over(transport: str, config: Path, home: Path, *extra: str) -> AsyncIterator[Client]:
    if transport == "stdio":
        async with Client(stdio_params(config, home, *extra), read_timeout_seconds=60) as client:
            yield client
        return
    port = free_port()
    args = [APP, "--config", str(config), "mcp", "--http", f"127.0.0.1:{port}", *extra]
    with http_process(args, child_env(home), port, home.parent):
        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=60) as client:
            yield client


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_sdk_client_lists_searches_asks_and_survives_bad_arguments(
    transport: str, served: tuple[Path, Path], fake_server: FakeOpenAIServer
) -> None:
    config, home = served
    fake_server.reply(f"Smeaton built it in 1759. (key {SECRET})")
    async with over(transport, config, home) as client:
        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        assert names == {"ask", "search_documents", "query_graph", "graph_entity", "stats"}  # read-only: no ingest
        ask_tool = next(t for t in listed.tools if t.name == "ask")
        assert set(ask_tool.input_schema["properties"]) == {"question", "mode"}
        assert ask_tool.output_schema is not None and "citations" in ask_tool.output_schema["properties"]

        found = await client.call_tool("search_documents", {"query": "Who built the Eddystone lighthouse?", "k": 2})
        assert not found.is_error
        hits = found.structured_content["citations"]
        assert len(hits) == 2 and hits[0]["kind"] == "chunk"
        assert hits[0]["source"].endswith("lighthouse.md") and "Smeaton" in hits[0]["text"]

        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        answer = await client.call_tool(
            "ask", {"question": "Who built it?", "mode": "direct"}, progress_callback=on_progress
        )
        assert not answer.is_error, text_of(answer)
        body = answer.structured_content
        assert body["answer"].startswith("Smeaton built it in 1759.") and body["mode"] == "direct"
        assert SECRET not in json.dumps(body) and SECRET not in text_of(answer)  # redacted on the way out
        assert body["usage"]["llm_calls"] == 1
        assert progress and progress[0][1] is not None and "summarizer" in progress[0][1]

        bad_k = await client.call_tool("search_documents", {"query": "lighthouse", "k": 500})
        assert bad_k.is_error and "between 1 and 50" in text_of(bad_k) and "\n" not in text_of(bad_k)
        bad_mode = await client.call_tool("ask", {"question": "x", "mode": "telepathy"})
        assert bad_mode.is_error and "unknown mode 'telepathy'" in text_of(bad_mode)
        wrong_type = await client.call_tool("search_documents", {"query": ["not", "a", "string"]})
        assert wrong_type.is_error
        no_graph = await client.call_tool("graph_entity", {"name": "Smeaton"})
        assert no_graph.is_error and "graph" in text_of(no_graph).lower()

        stats = await client.call_tool("stats", {})  # still serving after the errors
        assert not stats.is_error
        assert stats.structured_content["collections"][0]["chunks"] >= 3
        assert stats.structured_content["graph"]["triples"] == 0
    assert python_children("mcp") == []


async def test_ingest_is_offered_only_with_allow_ingest_and_stays_inside_its_root(
    served: tuple[Path, Path], tmp_path: Path
) -> None:
    from kg.ingest import load_triples
    from kg.store import graph_dir, open_or_new

    config, home = served
    triples = tmp_path / "lights.tsv"
    triples.write_text(
        "Eddystone Lighthouse\tbuilt_by\tJohn Smeaton\nJohn Smeaton\tborn_in\tAusthorpe\n", encoding="utf-8"
    )
    graph = open_or_new(home)
    load_triples(graph, triples)
    graph.save(graph_dir(home))
    inbox = tmp_path / "inbox"
    write_corpus(inbox, {"tides.md": "# Tides\n\nSpring tides follow the new and the full moon."})
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    async with over("stdio", config, home, "--allow-ingest", str(inbox)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "ingest" in names
        outside = await client.call_tool("ingest", {"paths": [str(tmp_path / "secret.txt")]})
        assert outside.is_error and "outside the folders" in text_of(outside)
        escape = await client.call_tool("ingest", {"paths": ["../secret.txt"]})
        assert escape.is_error
        done = await client.call_tool("ingest", {"paths": ["tides.md"]})
        assert not done.is_error, text_of(done)
        assert done.structured_content["files"] == 1 and done.structured_content["chunks_added"] >= 1
        found = await client.call_tool("search_documents", {"query": "spring tides moon", "k": 1})
        assert "Spring tides" in found.structured_content["citations"][0]["text"]

        around = await client.call_tool("graph_entity", {"name": "john smeaton"})
        assert not around.is_error, text_of(around)
        assert around.structured_content["answer"] == "John Smeaton: 2 triples"
        assert {c["text"] for c in around.structured_content["citations"]} == {
            "Eddystone Lighthouse —built_by→ John Smeaton",
            "John Smeaton —born_in→ Austhorpe",
        }
        unknown = await client.call_tool("graph_entity", {"name": "Jon Smeeton"})
        assert unknown.is_error and "did you mean: John Smeaton" in text_of(unknown)
        stats = (await client.call_tool("stats", {})).structured_content
        assert stats["graph"] == {"entities": 3, "triples": 2, "relations": 2}


def test_a_bad_http_flag_is_one_line_and_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app import main

    assert main(["mcp", "--http", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "lodestar: error: --http: expected HOST:PORT, got 'nonsense'"
