"""Step-by-step calls, declarative chains and programs: LLM calls and wall time per question; the sandbox's costs.

    python bench/chains.py [--latency 0.2] [--repeats 3]

1. Multi-tool questions built from the built-in tools (unit conversion, calculator, date and time), each needing
   2–4 calls where later ones use earlier results. The fake OpenAI server (with ``--latency`` seconds per reply,
   standing in for a model) is scripted per strategy:
   - step: ``chains = false``: one call per planner step (α-UMi), so 2n + 2 LLM calls for n tool calls;
   - declarative: ``chains = "declarative"``: the caller sends one chain with ``$s1.value`` references;
   - program: ``chains = "program"``: the caller sends one Python program, run in the sandbox; as shipped, each
     question starts a fresh sandbox (while its first planner call is in flight);
   - program_warm: the same with one sandbox kept warm across the questions (``Loop(..., sandbox=…)``): what a
     pool of pre-started sandboxes would buy.
   Every strategy must reach the same final tool output (checked), so the figures compare equal work.
   Ratios are against step-by-step in the same run. The program's wall time includes starting the sandbox, which
   runs while the planner's first call is in flight.
2. The sandbox: cold start-up (Deno + Pyodide), and the cost of one tool call from a program (a program making
   ``--calls`` calls of a no-op tool, minus an empty program, per call) against a direct in-process
   ``ToolRegistry.call`` of the same tool, measured in the same run.

Prints tables; saves bench/results/chains.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.core.config import SandboxSettings, Settings, load_settings
from agent.core.trace import LlmCall, ToolResultEvent, Trace
from agent.llm.hub import LLMHub
from agent.loop.answer import answer_tools
from agent.loop.engine import Loop
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tools.builtins import GENERAL_TOOLS, build_registry
from tools.chain import resolve
from tools.registry import ToolRegistry, tool
from tools.sandbox.runner import Sandbox, ToolReply, pyodide_dir

RESULTS = REPO / "bench" / "results" / "chains.json"
STRATEGIES = ("step", "declarative", "program", "program_warm")
CONFIG = """
[endpoints.main]
base_url = "{base_url}"
api_key = "sk-bench"
max_retries = 1

[roles.default]
model = "fake-model"
max_tokens = 64

[loop]
tool_call_format = "native"
max_steps = 10
"""

# Each step: (tool, arguments); "$sN.field" / "${sN.field}" refer to an earlier step's output (tools/chain.py).
QUESTIONS: list[dict[str, Any]] = [
    {
        "question": "How far is 3 nautical miles there and back, in km?",
        "steps": [
            ("convert_units", {"value": 3, "from_unit": "nmi", "to_unit": "km"}),
            ("calculator", {"expression": "${s1.value} * 2"}),
        ],
    },
    {
        "question": "A ship makes 12 knots for 7.5 hours: how many km does it cover, and how many statute miles?",
        "steps": [
            ("convert_units", {"value": 12, "from_unit": "kn", "to_unit": "km/h"}),
            ("calculator", {"expression": "${s1.value} * 7.5"}),
            ("convert_units", {"value": "$s2", "from_unit": "km", "to_unit": "mi"}),
        ],
    },
    {
        "question": "Is 451 °F hotter than 230 °C, and by how many kelvin?",
        "steps": [
            ("convert_units", {"value": 451, "from_unit": "degF", "to_unit": "K"}),
            ("convert_units", {"value": 230, "from_unit": "degC", "to_unit": "K"}),
            ("calculator", {"expression": "${s1.value} - ${s2.value}"}),
        ],
    },
    {
        "question": "A field is 5 by 7 statute miles: its area in km², and its perimeter in nautical miles?",
        "steps": [
            ("convert_units", {"value": 5, "from_unit": "mi", "to_unit": "km"}),
            ("convert_units", {"value": 7, "from_unit": "mi", "to_unit": "km"}),
            ("calculator", {"expression": "${s1.value} * ${s2.value}"}),
            ("convert_units", {"value": 24, "from_unit": "mi", "to_unit": "nmi"}),
        ],
    },
    {
        "question": "What is the time in UTC and in Tokyo now, and how many hours apart are they?",
        "steps": [
            ("current_datetime", {"timezone": "UTC"}),
            ("current_datetime", {"timezone": "Asia/Tokyo"}),
            ("calculator", {"expression": "9 - 0"}),
        ],
    },
]

PLANNER, CALLER, SUMMARIZER = "You are the planner", "You are the caller", "You are the summarizer"


# -- the three ways of writing the same plan -----------------------------------------------------------------------


def _ids(steps: list[Any]) -> list[str]:
    return [f"s{i}" for i in range(1, len(steps) + 1)]


def chain_steps(steps: list[Any]) -> list[dict[str, Any]]:
    return [{"id": sid, "tool": name, "args": args} for sid, (name, args) in zip(_ids(steps), steps, strict=True)]


_REF = re.compile(r"\$\{(s\d+)\.(\w+)\}|\$(s\d+)\.(\w+)|\$(s\d+)")


def _python_value(value: Any) -> str:
    """An argument as Python source: references become expressions over the earlier results."""
    if not isinstance(value, str) or "$" not in value:
        return repr(value)
    whole = _REF.fullmatch(value)
    if whole:
        sid, field = (whole.group(3), whole.group(4)) if whole.group(3) else (whole.group(5), None)
        if whole.group(1):
            sid, field = whole.group(1), whole.group(2)
        return f"{sid}[{field!r}]" if field else sid

    def part(match: re.Match[str]) -> str:
        sid = match.group(1) or match.group(3) or match.group(5)
        field = match.group(2) or match.group(4)
        return "{" + (f"{sid}[{field!r}]" if field else sid) + "}"

    return "f" + repr(_REF.sub(part, value))


def program(steps: list[Any]) -> str:
    lines = []
    for sid, (name, args) in zip(_ids(steps), steps, strict=True):
        call = ", ".join(f"{key}={_python_value(value)}" for key, value in args.items())
        lines.append(f"{sid} = {name}({call})  # {name}")
    lines.append(f"print({_ids(steps)[-1]})")
    return "```python\n" + "\n".join(lines) + "\n```"


async def concrete_calls(steps: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """The step-by-step caller's calls: each reference replaced by the value an earlier call really returned."""
    registry, outputs, calls = ToolRegistry(GENERAL_TOOLS), {}, []
    for sid, (name, args) in zip(_ids(steps), steps, strict=True):
        concrete = resolve(args, outputs)
        result = await registry.call(name, concrete)
        assert result.ok, result.error
        outputs[sid] = result.output
        calls.append((name, concrete))
    return calls


def script(server: FakeOpenAIServer, strategy: str, plans: dict[str, dict[str, Any]]) -> None:
    def which(body: dict[str, Any]) -> dict[str, Any]:
        text = "\n".join(str(m.get("content") or "") for m in body["messages"])
        return next(p for q, p in plans.items() if q in text)

    def observations(body: dict[str, Any]) -> int:
        return str(body["messages"][-1]["content"]).count("<<<end observation")

    def planner(body: dict[str, Any], index: int) -> Reply:
        plan = which(body)
        needed = len(plan["calls"]) if strategy == "step" else 1
        done = observations(body) >= needed
        return Reply(content="The history answers it. Next: summarizer." if done else "Call the tools. Next: caller.")

    def caller(body: dict[str, Any], index: int) -> Reply:
        plan = which(body)
        if strategy.startswith("program"):
            return Reply(content=plan["program"])
        if strategy == "declarative":
            return Reply.tool_call("chain", {"steps": plan["chain"]})
        name, args = plan["calls"][observations(body)]
        return Reply.tool_call(name, args)

    server.reply(planner, system_contains=PLANNER)
    server.reply(caller, system_contains=CALLER)
    server.reply("The answer, from the tools [1].", system_contains=SUMMARIZER)


# -- 1: the strategies ------------------------------------------------------------------------------------------------


def _settings(base_url: str, home: Path, strategy: str, runtime: Path) -> Settings:
    config = home / "lodestar.toml"
    home.mkdir(parents=True, exist_ok=True)
    chains = {"step": "false", "declarative": '"declarative"', "program": '"program"', "program_warm": '"program"'}[
        strategy
    ]
    text = CONFIG.format(base_url=base_url) + f"chains = {chains}\n\n[sandbox]\npyodide_dir = {str(runtime)!r}\n"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, env={"LODESTAR_HOME": str(home), "PATH": os.environ.get("PATH", "")})


async def run_strategies(latency: float, repeats: int, home: Path, runtime: Path) -> dict[str, Any]:
    plans = {}
    for item in QUESTIONS:
        plans[item["question"]] = {
            "calls": await concrete_calls(item["steps"]),
            "chain": chain_steps(item["steps"]),
            "program": program(item["steps"]),
        }
    figures: dict[str, Any] = {}
    finals: dict[str, list[Any]] = {}
    for strategy in STRATEGIES:
        with FakeOpenAIServer(latency=latency) as server:
            script(server, strategy, plans)
            settings = _settings(server.base_url, home / strategy, strategy, runtime)
            calls, walls, tool_calls, final = [], [], [], []
            warm = Sandbox(settings.sandbox, settings.cache_dir) if strategy == "program_warm" else None
            async with LLMHub(settings) as hub:
                if warm is not None:
                    await warm.start()
                for _ in range(repeats):
                    for item in QUESTIONS:
                        trace = Trace()
                        started = time.perf_counter()
                        if warm is None:
                            await answer_tools(item["question"], hub, trace, None)
                        else:
                            registry = build_registry(settings, knowledge=False)
                            await Loop(item["question"], hub, trace, registry, sandbox=warm).run(None)
                        walls.append(time.perf_counter() - started)
                        calls.append(sum(isinstance(e, LlmCall) for e in trace.events))
                        results = [e for e in trace.events if isinstance(e, ToolResultEvent)]
                        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
                        tool_calls.append(len(results))
                        final.append(sorted(json.dumps(r.output) for r in results if r.name != "current_datetime"))
            if warm is not None:
                await warm.close()
            finals[strategy] = final
            figures[strategy] = {
                "llm_calls_per_question": round(statistics.mean(calls), 2),
                "tool_calls_per_question": round(statistics.mean(tool_calls), 2),
                "wall_s_per_question": round(statistics.mean(walls), 3),
                "wall_s_median": round(statistics.median(walls), 3),
            }
    assert all(finals[name] == finals["step"] for name in STRATEGIES), finals
    base = figures["step"]
    for strategy in STRATEGIES:
        figures[strategy]["llm_calls_vs_step"] = round(
            figures[strategy]["llm_calls_per_question"] / base["llm_calls_per_question"], 3
        )
        figures[strategy]["wall_vs_step"] = round(
            figures[strategy]["wall_s_per_question"] / base["wall_s_per_question"], 3
        )
    return figures


# -- 2: the sandbox ---------------------------------------------------------------------------------------------------


@tool(blocking=False)
def noop(x: int = 0) -> int:
    """Return x."""
    return x


async def sandbox_costs(runtime: Path, cache: Path, starts: int, calls: int) -> dict[str, Any]:
    settings = SandboxSettings(pyodide_dir=runtime)
    start_s = []
    for _ in range(starts):
        box = Sandbox(settings, cache)
        began = time.perf_counter()
        await box.start()
        start_s.append(time.perf_counter() - began)
        await box.close()

    registry = ToolRegistry([noop])

    async def handler(name: str, arguments: dict[str, Any]) -> ToolReply:
        result = await registry.call(name, arguments)
        return ToolReply(ok=result.ok, value=result.output, error=result.error)

    async with Sandbox(settings, cache) as box:
        await box.run("print(1)", ["noop"], handler)  # warm
        empty = min([(await box.run("print(1)", ["noop"], handler)).wall_s for _ in range(5)])
        code = f"total = 0\nfor i in range({calls}):\n    total += noop(x=i)\nprint(total)"
        runs = [await box.run(code, ["noop"], handler) for _ in range(3)]
        assert all(r.ok and r.output.strip() == str(sum(range(calls))) for r in runs), runs[0].error
        per_call = (min(r.wall_s for r in runs) - empty) / calls

    began = time.perf_counter()
    for i in range(calls):
        await registry.call("noop", {"x": i})
    direct = (time.perf_counter() - began) / calls
    return {
        "start_s_mean": round(statistics.mean(start_s), 3),
        "start_s_min": round(min(start_s), 3),
        "starts": starts,
        "empty_program_ms": round(empty * 1000, 3),
        "per_tool_call_ms": round(per_call * 1000, 4),
        "direct_tool_call_ms": round(direct * 1000, 4),
        "per_call_vs_direct": round(per_call / direct, 1) if direct else None,
        "calls": calls,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-chains-") as scratch:
        base = Path(scratch)
        cache = Path(args.cache) if args.cache else base / "cache"
        runtime = await asyncio.to_thread(pyodide_dir, SandboxSettings(), cache)
        strategies = await run_strategies(args.latency, args.repeats, base / "homes", runtime)
        sandbox = await sandbox_costs(runtime, base / "sandbox-cache", args.starts, args.calls)
    return {
        "benchmark": "chains",
        "latency_s_per_llm_reply": args.latency,
        "questions": len(QUESTIONS),
        "repeats": args.repeats,
        "strategies": strategies,
        "sandbox": sandbox,
        "load_average": os.getloadavg(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake model takes per reply")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the questions")
    parser.add_argument("--starts", type=int, default=3, help="cold sandbox starts to time")
    parser.add_argument("--calls", type=int, default=300, help="tool calls in the per-call program")
    parser.add_argument("--cache", help="where Pyodide is (or is fetched to); default: a temporary folder")
    args = parser.parse_args()
    data = asyncio.run(main_async(args))
    print(f"{len(QUESTIONS)} questions × {args.repeats}, fake model latency {args.latency:g} s per reply")
    print(f"{'strategy':<13} {'LLM calls/q':>11} {'vs step':>8} {'tool calls/q':>12} {'wall s/q':>9} {'vs step':>8}")
    for name, row in data["strategies"].items():
        print(
            f"{name:<13} {row['llm_calls_per_question']:>11} {row['llm_calls_vs_step']:>8} "
            f"{row['tool_calls_per_question']:>12} {row['wall_s_per_question']:>9} {row['wall_vs_step']:>8}"
        )
    box = data["sandbox"]
    print(
        f"sandbox: cold start {box['start_s_mean']} s (min {box['start_s_min']}, {box['starts']} starts); "
        f"empty program {box['empty_program_ms']} ms; one tool call {box['per_tool_call_ms']} ms "
        f"vs {box['direct_tool_call_ms']} ms direct (×{box['per_call_vs_direct']})"
    )
    print(f"load average {', '.join(f'{x:.1f}' for x in data['load_average'])}")
    save_results(RESULTS, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
