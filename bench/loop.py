"""The planner–caller–summarizer loop: our own time per step, and LLM calls per question for each mode.

    python bench/loop.py [--quick] [--modes direct,tools,auto,rag,kg]

1. Overhead per loop step, LLM latency excluded (goal: <= 5 ms), measured two ways:
   a. stub LLMs (no HTTP at all): everything the loop itself does per step — prompt building, parsing, tool
      validation and execution (calculator, unit conversion; sync tools run in a worker thread), trace events;
   b. the fake OpenAI server at zero latency over real HTTP: wall time minus the LLM calls' own latency (as the
      trace records it), divided by the steps.
2. LLM calls per question for every mode on examples/questions.jsonl against the fake server. The loop's roles
   follow a scripted policy ("call one tool, then answer": auto calls query_graph for the file's kg questions and
   search_documents for the others; tools calls the calculator); the judge, explorer and answer roles get the
   server's default reply. The documents and graph are the examples/ corpus and graph, ingested into a temporary
   home (the embedding model runs once for that).

Prints a table; saves bench/results/loop.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from agent.core.config import Settings, load_settings
from agent.core.trace import LlmCall, Plan, Trace
from agent.llm import wire
from agent.llm.capabilities import Capabilities
from agent.llm.client import Completion
from agent.llm.hub import LLMHub
from agent.loop.answer import answer_tools
from agent.run.question import run_question
from agent.testing.fake_openai import FakeOpenAIServer, Reply

RESULTS = REPO / "bench" / "results" / "loop.json"
QUESTIONS = REPO / "examples" / "questions.jsonl"
GOAL_MS = 5.0

CONFIG = """
[endpoints.main]
base_url = "{base_url}"
api_key = "sk-bench"
max_concurrency = 8
max_retries = 1
read_timeout_s = 60

[roles.default]
model = "fake-model"
max_tokens = 64
"""

PLAN_CALL = "The next fact needs a tool. Next: caller."
PLAN_DONE = "The history answers the question. Next: summarizer."


# -- 1a: stub LLMs -----------------------------------------------------------------------------------------------------


class StubLLM:
    """Answers instantly from a script: the loop's own cost with no HTTP and no model."""

    def __init__(self, role: str, script: Any) -> None:
        self.name = role
        self.capabilities = Capabilities()
        self._script = script

    async def complete(self, messages: list[dict[str, Any]], **options: Any) -> Completion:
        return self._script(self.name, messages)

    @asynccontextmanager
    async def stream(self, messages: list[dict[str, Any]], **options: Any) -> Any:
        completion = self._script(self.name, messages)

        class _Stream:
            def __init__(self) -> None:
                self.completion = completion

            def __aiter__(self) -> Any:
                async def pieces() -> Any:
                    yield completion.text

                return pieces()

        yield _Stream()


class StubHub:
    def __init__(self, settings: Settings, script: Any) -> None:
        self.settings = settings
        self._script = script

    def llm(self, role: str, trace: Trace | None = None) -> StubLLM:
        return StubLLM(role, self._script)


def _three_step_script(role: str, messages: list[dict[str, Any]]) -> Completion:
    """Planner: calculator, then a unit conversion, then answer. Caller: native tool calls."""
    history = messages[1]["content"]
    calls = history.count("\ncaller: ")
    if role == "planner":
        return Completion(text=PLAN_CALL if calls < 2 else PLAN_DONE)
    if role == "caller":
        if calls == 0:
            call = wire.ToolCall(
                id="c1", function=wire.FunctionCall(name="calculator", arguments='{"expression": "60 * 1852 / 1000"}')
            )
        else:
            call = wire.ToolCall(
                id="c2",
                function=wire.FunctionCall(
                    name="convert_units", arguments='{"value": 111.12, "from_unit": "km", "to_unit": "nmi"}'
                ),
            )
        return Completion(tool_calls=[call])
    return Completion(text="One degree of latitude is 60 nautical miles, 111.12 km [1][2].")


async def overhead_stub(settings: Settings, questions: int) -> dict[str, Any]:
    hub = StubHub(settings, _three_step_script)
    per_step: list[float] = []
    for i in range(questions + 5):
        trace = Trace()
        started = time.perf_counter()
        await answer_tools(f"How long is one degree of latitude? ({i})", hub, trace, None)
        elapsed = time.perf_counter() - started
        steps = sum(isinstance(e, Plan) for e in trace.events)
        if i >= 5:  # warm-up: imports, thread pool, pydantic schema caches
            per_step.append(elapsed / steps * 1000)
    return _stats(per_step) | {"steps_per_question": 3, "tool_calls_per_question": 2}


# -- 1b: fake server, zero latency ---------------------------------------------------------------------------------


def _script_server(server: FakeOpenAIServer) -> None:
    def planner(body: dict[str, Any], index: int) -> Reply:
        history = body["messages"][1]["content"]
        return Reply(content=PLAN_CALL if history.count("\ncaller: ") < 2 else PLAN_DONE)

    def caller(body: dict[str, Any], index: int) -> Reply:
        history = body["messages"][1]["content"]
        if history.count("\ncaller: ") == 0:
            return Reply.tool_call("calculator", {"expression": "60 * 1852 / 1000"})
        return Reply.tool_call("convert_units", {"value": 111.12, "from_unit": "km", "to_unit": "nmi"})

    server.reply(planner, system_contains="You are the planner")
    server.reply(caller, system_contains="You are the caller")
    server.reply("One degree of latitude is 60 nautical miles [1][2].", system_contains="You are the summarizer")


async def overhead_http(base_url: str, home: Path, questions: int) -> dict[str, Any]:
    settings = _settings(base_url, home)
    per_step: list[float] = []
    llm_share: list[float] = []
    async with LLMHub(settings) as hub:
        for i in range(questions + 5):
            trace = Trace()
            started = time.perf_counter()
            await answer_tools(f"How long is one degree of latitude? ({i})", hub, trace, None)
            elapsed = time.perf_counter() - started
            llm = sum(e.latency_s for e in trace.events if isinstance(e, LlmCall))
            steps = sum(isinstance(e, Plan) for e in trace.events)
            if i >= 5:
                per_step.append((elapsed - llm) / steps * 1000)
                llm_share.append(llm / elapsed)
    return _stats(per_step) | {"llm_latency_share_of_wall": round(statistics.mean(llm_share), 3)}


def _stats(values_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(values_ms)
    return {
        "questions": len(values_ms),
        "mean_ms": round(statistics.mean(ordered), 3),
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "meets_goal": statistics.median(ordered) <= GOAL_MS,
    }


# -- 2: LLM calls per question per mode -------------------------------------------------------------------------------


def _settings(base_url: str, home: Path) -> Settings:
    config = home.parent / f"lodestar-{home.name}.toml"
    config.write_text(CONFIG.format(base_url=base_url), encoding="utf-8")
    return load_settings(config, env={"LODESTAR_HOME": str(home), "PATH": os.environ.get("PATH", "")})


def _policy_server(server: FakeOpenAIServer, kg_questions: set[str]) -> None:
    def planner(body: dict[str, Any], index: int) -> Reply:
        history = body["messages"][1]["content"]
        return Reply(content=PLAN_DONE if "<<<observation" in history else PLAN_CALL)

    def caller(body: dict[str, Any], index: int) -> Reply:
        history = body["messages"][1]["content"]
        question = history.split("user: ", 1)[1].split("\n", 1)[0]
        names = [t["function"]["name"] for t in body.get("tools") or []]
        if "search_documents" in names or "query_graph" in names:
            tool = "query_graph" if question in kg_questions and "query_graph" in names else "search_documents"
            return Reply.tool_call(tool, {"query" if tool == "search_documents" else "question": question})
        return Reply.tool_call("calculator", {"expression": "2 + 2"})

    server.reply(planner, system_contains="You are the planner")
    server.reply(caller, system_contains="You are the caller")
    server.reply("An answer from the history [1].", system_contains="You are the summarizer")


def _prepare_knowledge(settings: Settings) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        from rag.ingest import ingest_paths

        report = ingest_paths([str(REPO / "examples" / "corpus")], settings)
        notes["ingest"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "summary": str(report.model_dump().get("chunks_added", "")),
        }
    except Exception as exc:  # the bench still measures the modes that work
        notes["ingest_error"] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        from kg.ingest import load_aliases, load_triples
        from kg.store import graph_dir, open_or_new

        graph = open_or_new(settings.home)
        load_triples(graph, REPO / "examples" / "graph" / "navigation.tsv")
        load_aliases(graph, REPO / "examples" / "graph" / "aliases.tsv")
        graph.save(graph_dir(settings.home))
        notes["graph"] = {"entities": len(graph), "triples": graph.num_triples}
    except Exception as exc:
        notes["graph_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return notes


async def calls_per_mode(
    base_url: str, home: Path, modes: list[str], rows: list[dict[str, Any]], server: FakeOpenAIServer
) -> dict[str, Any]:
    settings = _settings(base_url, home)
    kg_questions = {r["question"] for r in rows if r.get("mode") == "kg"}
    server.reset()
    _policy_server(server, kg_questions)
    notes = _prepare_knowledge(settings) if {"rag", "kg", "auto"} & set(modes) else {}
    out: dict[str, Any] = {"setup": notes, "modes": {}}
    async with LLMHub(settings) as hub:
        for mode in modes:
            counts: list[int] = []
            errors: dict[str, int] = {}
            started = time.perf_counter()
            for row in rows:
                try:
                    result = await run_question(row["question"], mode, hub, trace=Trace())
                    counts.append(result.usage.llm_calls)
                except Exception as exc:  # record and go on: one broken mode must not hide the others
                    key = f"{type(exc).__name__}: {str(exc)[:120]}"
                    errors[key] = errors.get(key, 0) + 1
            out["modes"][mode] = {
                "questions": len(rows),
                "answered": len(counts),
                "llm_calls_mean": round(statistics.mean(counts), 2) if counts else None,
                "llm_calls_min": min(counts) if counts else None,
                "llm_calls_max": max(counts) if counts else None,
                "seconds": round(time.perf_counter() - started, 2),
                "errors": errors,
            }
    return out


# -- main ------------------------------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    questions = 40 if args.quick else 200
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.quick:
        rows = rows[:: max(1, len(rows) // 10)]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        stub = await overhead_stub(Settings(home=base / "stub"), questions)
        with FakeOpenAIServer(latency=0.0) as server:
            _script_server(server)
            http = await overhead_http(server.base_url, base / "http", questions)
            modes = await calls_per_mode(server.base_url, base / "modes", args.modes.split(","), rows, server)
    return {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "goal_ms_per_step": GOAL_MS,
        "overhead_stub_llm": stub,
        "overhead_fake_http": http,
        "llm_calls_per_question": modes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer questions")
    parser.add_argument("--modes", default="direct,tools,auto,rag,kg")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    stub, http = result["overhead_stub_llm"], result["overhead_fake_http"]
    print(f"loop overhead per step (goal <= {GOAL_MS} ms), {stub['questions']} questions x 3 steps")
    print(f"  stub LLMs       median {stub['median_ms']:.3f} ms  p95 {stub['p95_ms']:.3f} ms")
    print(
        f"  fake HTTP       median {http['median_ms']:.3f} ms  p95 {http['p95_ms']:.3f} ms "
        f"(LLM calls are {100 * http['llm_latency_share_of_wall']:.0f}% of wall time)"
    )
    print("LLM calls per question on examples/questions.jsonl (fake server, scripted loop policy)")
    for mode, row in result["llm_calls_per_question"]["modes"].items():
        calls = "—" if row["llm_calls_mean"] is None else f"{row['llm_calls_mean']:.2f}"
        span = "" if row["llm_calls_min"] is None else f" (min {row['llm_calls_min']}, max {row['llm_calls_max']})"
        errs = f"  errors: {row['errors']}" if row["errors"] else ""
        print(f"  {mode:<7} {calls}{span}  {row['answered']}/{row['questions']} answered{errs}")
    setup = result["llm_calls_per_question"]["setup"]
    if setup:
        print(f"  setup: {json.dumps(setup)[:300]}")
    save_results(RESULTS, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
