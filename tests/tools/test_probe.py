"""Black-box probing (ATC §4.3) over the fake endpoint: the caller proposes test calls, Lodestar records the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import app
from agent.core.config import Settings
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer
from tools.builtins import GENERAL_TOOLS, build_registry
from tools.probe import CACHE_FILE, Prober, simplify_json
from tools.registry import Tool, ToolRegistry, tool

PROBER = "You test tools"
GOOD = 'Query: "How far is 3 nautical miles in km?"\nAction Input: {"value": 3, "from_unit": "nmi", "to_unit": "km"}'
BAD = 'Query: "?"\nAction Input: {"value": 3, "from_unit": "nmi", "to_unit": "parsec-ish"}'


def prober_requests(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.json for r in server.chat_requests if PROBER in r.json["messages"][0]["content"]]


def test_simplify_json_is_atcs() -> None:
    value = {"id": 7, "name": "x", "score": 0.5, "ok": True, "none": None, "items": [{"a": 1}, {"a": 2}], "e": []}
    assert simplify_json(value) == {
        "id": "integer",
        "name": "string",
        "score": "number",
        "ok": "boolean",
        "none": "null",
        "items": [{"a": "integer"}],
        "e": [],
    }


async def test_probing_records_a_schema_and_the_docs_show_it(
    hub: LLMHub, fake_server: FakeOpenAIServer, settings: Settings
) -> None:
    fake_server.reply([BAD, GOOD], system_contains=PROBER)
    registry = ToolRegistry(GENERAL_TOOLS)
    async with Prober(registry, hub) as prober:
        outcomes = await prober.probe(["convert_units", "calculator"])

    by_name = {o.tool: o for o in outcomes}
    assert by_name["calculator"].status == "declared"  # int | float: nothing to learn
    probed = by_name["convert_units"]
    assert probed.status == "probed" and probed.record is not None
    assert probed.record.output_schema == {"value": "number", "unit": "string", "from": "string"}
    assert probed.record.example == {"value": 5.556, "unit": "km", "from": "3 nmi"}
    assert probed.record.arguments == {"value": 3, "from_unit": "nmi", "to_unit": "km"}
    # the failed first proposal was fed back
    retry = prober_requests(fake_server)[1]["messages"][-1]["content"]
    assert retry.startswith("The test call failed:") and "parsec-ish" in retry
    # cached under LODESTAR_HOME, and the tool docs of every later registry carry the output section
    cached = json.loads((settings.cache_dir / CACHE_FILE).read_text())
    assert cached["convert_units"]["output_schema"] == probed.record.output_schema
    docs = {
        json.loads(line)["name"]: json.loads(line)
        for line in build_registry(settings, knowledge=False).docs().splitlines()
    }
    assert docs["convert_units"]["output"] == {"value": "number", "unit": "string", "from": "string"}
    assert "output" not in docs["calculator"]
    spec = next(s for s in registry.specs() if s["function"]["name"] == "convert_units")
    assert spec["function"]["description"].endswith('Returns: {"value": "number", "unit": "string", "from": "string"}')


async def test_the_cache_is_used_until_refreshed(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(GOOD, system_contains=PROBER)
    registry = ToolRegistry(GENERAL_TOOLS)
    async with Prober(registry, hub) as prober:
        assert [o.status for o in await prober.probe(["convert_units"])] == ["probed"]
        assert [o.status for o in await prober.probe(["convert_units"])] == ["cached"]
        assert len(prober_requests(fake_server)) == 1
        assert [o.status for o in await prober.probe(["convert_units"], refresh=True)] == ["probed"]
        assert len(prober_requests(fake_server)) == 2


def _messenger() -> tuple[Tool, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    @tool(side_effects=True)
    def send_message(to: str, text: str) -> dict[str, Any]:
        """Send a message to someone."""
        sent.append({"to": to, "text": text})
        return {"delivered": True, "id": len(sent)}

    return send_message, sent


async def test_a_tool_with_side_effects_runs_only_when_confirmed(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply('Query: "hi"\nAction Input: {"to": "ada", "text": "hello"}', system_contains=PROBER)
    send_message, sent = _messenger()
    asked: list[dict[str, Any]] = []

    async def refuse(item: Tool, arguments: dict[str, Any]) -> bool:
        asked.append(arguments)
        return False

    async def agree(item: Tool, arguments: dict[str, Any]) -> bool:
        return True

    registry = ToolRegistry([send_message])
    async with Prober(registry, hub, confirm=refuse) as prober:
        assert [o.status for o in await prober.probe()] == ["skipped"]
    assert asked == [{"to": "ada", "text": "hello"}] and sent == []
    async with Prober(registry, hub, confirm=agree) as prober:
        outcomes = await prober.probe()
    assert outcomes[0].status == "probed" and sent == [{"to": "ada", "text": "hello"}]
    assert outcomes[0].record is not None and outcomes[0].record.output_schema == {
        "delivered": "boolean",
        "id": "integer",
    }


async def test_probes_run_in_the_sandbox_when_programs_apply(
    hub: LLMHub, fake_server: FakeOpenAIServer, pyodide_runtime: Path
) -> None:
    hub.settings.loop.chains = "program"
    hub.settings.sandbox.pyodide_dir = pyodide_runtime
    fake_server.reply(GOOD, system_contains=PROBER)
    registry = ToolRegistry(GENERAL_TOOLS)
    async with Prober(registry, hub) as prober:
        outcomes = await prober.probe(["convert_units"])
        assert prober.sandbox is not None and prober.sandbox.start_s is not None  # it went through the sandbox
    assert outcomes[0].record is not None
    assert outcomes[0].record.output_schema == {"value": "number", "unit": "string", "from": "string"}


def test_the_cli_probes_and_reports(
    settings: Settings, fake_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.reply(GOOD, system_contains=PROBER)
    assert app.main(["tools", "probe", "convert_units", "calculator"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(None, 2) == [
        "convert_units",
        "probed",
        '{"value": "number", "unit": "string", "from": "string"}',
    ]
    assert lines[1].split(None, 2)[:2] == ["calculator", "declared"]
    assert app.main(["tools", "probe", "no_such_tool"]) == 2
    assert "no tool named 'no_such_tool'" in capsys.readouterr().err
