"""The evidence router on the examples/ data (real Chroma, real embeddings, the real graph; no LLM), and auto
mode following or hinting its route over the fake endpoint."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.core.config import Settings
from agent.core.trace import RouteEvent, ToolResultEvent, Trace
from agent.llm.hub import LLMHub
from agent.loop.answer import answer_auto
from agent.loop.router import arithmetic, choose_route, conversion
from agent.testing.fake_openai import FakeOpenAIServer
from tools.builtins import build_registry

REPO = Path(__file__).resolve().parents[2]
# a slice of the demo corpus (ingesting all 38 files takes too long for a unit test)
DOCUMENTS = (
    "harrison-h4.md",
    "john-harrison.md",
    "larcum-kendall-k1.md",
    "log-line-and-knots.txt",
    "longitude-act-1714.md",
    "lodestone.md",
    "polynesian-wayfinding.md",
    "eddystone-lighthouse.md",
)


@pytest.fixture(scope="module")
def examples_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kg.ingest import load_aliases, load_triples
    from kg.store import graph_dir, open_or_new
    from rag.ingest import ingest_paths

    home = tmp_path_factory.mktemp("examples") / "home"
    corpus = home.parent / "corpus"
    corpus.mkdir()
    for name in DOCUMENTS:
        shutil.copy(REPO / "examples" / "corpus" / name, corpus / name)
    settings = Settings(home=home)
    ingest_paths([str(corpus)], settings)
    graph = open_or_new(home)
    load_triples(graph, REPO / "examples" / "graph" / "navigation.tsv")
    load_aliases(graph, REPO / "examples" / "graph" / "aliases.tsv")
    graph.save(graph_dir(home))
    return home


async def route_of(question: str, home: Path) -> Any:
    settings = Settings(home=home)
    return await choose_route(question, settings, build_registry(settings, knowledge=True))


@pytest.mark.parametrize(
    ("question", "route", "tool"),
    [
        ("Who built the H4 marine chronometer?", "kg", "query_graph"),  # names the graph entity H4
        ("Who made K1?", "kg", "query_graph"),
        ("Which ship carried Harrison's H4 on its first sea trial to Jamaica in 1761?", "rag", "search_documents"),
        ("At what interval were knots tied on the log line when timed with a 28-second glass?", "rag", None),
        ("What is 17 * 23 + 4?", "tool", "calculator"),
        ("What is 12 times 7?", "tool", "calculator"),
        ("How many metres are in one international nautical mile?", "tool", "convert_units"),
        ("What is the capital of France?", "direct", None),
        ("Write a haiku about the sea.", "direct", None),
    ],
)
async def test_router_picks_the_route_from_the_evidence(
    examples_home: Path, question: str, route: str, tool: str | None
) -> None:
    chosen = await route_of(question, examples_home)
    assert chosen.route == route, chosen.reason
    if tool:
        assert chosen.tool == tool
    assert chosen.reason


async def test_no_graph_and_no_documents_means_no_kg_or_rag(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "empty")
    registry = build_registry(settings, knowledge=False)  # auto mode removes tools with nothing behind them
    chosen = await choose_route("Who built the H4 marine chronometer?", settings, registry)
    assert chosen.route == "direct"


def test_question_shapes() -> None:
    assert arithmetic("What is (12.5 + 3) * 2?") == "(12.5 + 3) * 2"
    assert arithmetic("square root of 144 plus 1") == "sqrt(144) + 1"
    assert arithmetic("In what year did Shen Kuo complete the Dream Pool Essays in 1088?") is None
    assert arithmetic("a 28-second glass") is None
    assert conversion("How many km is 3 nautical miles?") == {
        "value": 3.0,
        "from_unit": "nautical miles",
        "to_unit": "km",
    }
    assert conversion("What is 5 kn in km/h?") == {"value": 5.0, "from_unit": "kn", "to_unit": "km/h"}
    assert conversion("convert 3 nautical miles to km") == {
        "value": 3.0,
        "from_unit": "nautical miles",
        "to_unit": "km",
    }
    assert conversion("How many hours are in one metre?") is None


async def test_router_alone_runs_one_tool_then_the_summarizer(
    examples_home: Path, hub: LLMHub, fake_server: FakeOpenAIServer
) -> None:
    hub.settings.home = examples_home
    hub.settings.loop.planner = "router"
    fake_server.reply("17 * 23 + 4 = 395 [1].", system_contains="You are the summarizer")
    trace = Trace()

    answer = await answer_auto("What is 17 * 23 + 4?", hub, trace, None)

    assert answer.text == "17 * 23 + 4 = 395 [1]."
    assert [c.kind for c in answer.citations] == ["tool"]
    routes = [e for e in trace.events if isinstance(e, RouteEvent)]
    assert [(r.route, r.tool, r.alone) for r in routes] == [("tool", "calculator", True)]
    assert [(e.name, e.output) for e in trace.events if isinstance(e, ToolResultEvent)] == [("calculator", 395)]
    assert trace.usage.llm_calls == 1  # no planner, no caller
    assert not [r for r in fake_server.chat_requests if "You are the planner" in r.json["messages"][0]["content"]]


async def test_capable_planner_reads_the_route_as_a_hint(
    examples_home: Path, hub: LLMHub, fake_server: FakeOpenAIServer
) -> None:
    hub.settings.home = examples_home
    assert hub.settings.loop.planner == "auto" and not hub.settings.uses_local  # an endpoint: the LLM plans
    fake_server.reply("I know this. Next: summarizer.", system_contains="You are the planner")
    fake_server.reply("John Harrison.", system_contains="You are the summarizer")
    trace = Trace()

    answer = await answer_auto("Who made K1?", hub, trace, None)

    assert answer.text == "John Harrison."
    route = next(e for e in trace.events if isinstance(e, RouteEvent))
    assert (route.route, route.alone) == ("kg", False)
    planner = next(
        r.json for r in fake_server.chat_requests if "You are the planner" in r.json["messages"][0]["content"]
    )
    assert "Hint (a cheap look at the evidence, not an order): " in planner["messages"][1]["content"]
    assert "the query_graph tool" in planner["messages"][1]["content"]


@pytest.mark.parametrize(
    ("question", "route", "event"),
    [
        ("Who made K1?", "kg", "kg_step"),
        ("Which ship carried Harrison's H4 on its first sea trial to Jamaica in 1761?", "rag", "docs_scored"),
    ],
)
async def test_router_alone_hands_knowledge_routes_to_their_modes(
    examples_home: Path, hub: LLMHub, fake_server: FakeOpenAIServer, question: str, route: str, event: str
) -> None:
    hub.settings.home = examples_home
    hub.settings.loop.planner = "router"
    trace = Trace()

    answer = await answer_auto(question, hub, trace, None)

    assert answer.text.strip()
    assert [(e.route, e.alone) for e in trace.events if isinstance(e, RouteEvent)] == [(route, True)]
    assert any(getattr(e, "type", None) == event for e in trace.events)
    assert not [r for r in fake_server.chat_requests if "You are the planner" in r.json["messages"][0]["content"]]
