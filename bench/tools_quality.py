"""Tool-call quality on API-Bank level-1 cases, scored step-level as α-UMi does (docs/algorithms.md §3.5).

    python bench/tools_quality.py [--n 25] [--seed 0] [--variants loop,caller] [--format text]
                                  [--base-url URL --model NAME]   # default: the bundled model, started here

Each case gives API descriptions and a dialogue whose next step is one API call. We build schema-only tools from
the descriptions (the mock APIs are compared, not executed: data/SOURCE.md) and ask our roles for that step:

- ``loop``: the planner decides (Plan ACC: it must choose the caller), then the caller makes the call from the
  planner's thought — what ``ask --mode tools`` does on its first step;
- ``caller``: the caller alone, with a fixed thought ("call the API the user's last request needs") — the
  caller's own quality, whatever the planner does.

Metrics (α-UMi): Plan ACC, Act EM (API name), Hallu (a name not among the given APIs), Arg F1 (0.5 per key with
a wrong value), plus Arg F1 with values compared as case/space-folded text. Tool names are matched as the product
matches them (case and punctuation folded). 31 of the 399 level-1 cases have an expected call that is not valid
Python (nested quotes) and are left out of the sample. Saves bench/results/tools_quality.json (one entry per
--format, so runs with different formats sit side by side).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchio import SHARED_DATA, save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.core.config import load_settings
from agent.core.trace import ToolCallEvent, Trace
from agent.llm.hub import LLMHub
from agent.loop.engine import Loop
from tools.eval import StepScore, api_bank_tools, parse_api_bank_call, summarize_scores, tool_from_api_bank
from tools.registry import ToolRegistry

DATA = Path(os.environ.get("LODESTAR_API_BANK", SHARED_DATA / "tools" / "api_bank")) / "test-data" / "level-1-api.json"
RESULTS = REPO / "bench" / "results" / "tools_quality.json"
CALLER_THOUGHT = "Call the API that the user's last request needs, with the argument values from the dialogue."

CONFIG = """
[endpoints.bench]
base_url = "{base_url}"
max_concurrency = 1
read_timeout_s = 600
max_retries = 1

[roles.default]
model = "{model}"
max_tokens = {max_tokens}
temperature = 0.0

[loop]
tool_call_format = "{fmt}"
parse_retries = {retries}
chains = {chains}
"""


def load_cases(path: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """A seeded uniform sample of the cases whose expected call parses."""
    usable = []
    for case in json.loads(path.read_text(encoding="utf-8")):
        try:
            case["ref_name"], case["ref_args"] = parse_api_bank_call(case["expected_output"])
        except (ValueError, SyntaxError):
            continue
        usable.append(case)
    return random.Random(seed).sample(usable, min(n, len(usable)))


def question_of(case: dict[str, Any]) -> str:
    dialogue = case["input"].replace("Generate API Request:", "").strip()
    return f"The current year is 2023. The dialogue so far:\n{dialogue}"


async def predict(case: dict[str, Any], hub: LLMHub, variant: str) -> tuple[StepScore, list[str]]:
    registry = ToolRegistry(tool_from_api_bank(d) for d in api_bank_tools(case["instruction"]))
    trace = Trace()
    loop = Loop(question_of(case), hub, trace, registry)
    score = StepScore(
        case=f"{case['file']}#{case['id']}", ref_name=case["ref_name"], ref_args=case["ref_args"], plan="caller"
    )
    started = time.perf_counter()
    try:
        thought = CALLER_THOUGHT
        if variant == "loop":
            decision = await loop.plan(steps_left=hub.settings.loop.max_steps)
            score.plan, thought = decision.next, decision.thought
        if score.plan == "caller":
            request, error = await loop.ask_caller(loop.caller_messages(thought))
            if request is None:
                attempted = [e.name for e in trace.events if isinstance(e, ToolCallEvent)]
                score.pred_name, score.error = (attempted[-1] if attempted else None), error
            elif request.kind == "chain" and request.chain is not None:
                first = request.chain.steps[0]
                score.pred_name, score.pred_args, score.error = first.tool, first.args, "answered with a chain"
            else:
                score.pred_name, score.pred_args = request.name, request.arguments
    except Exception as exc:  # an endpoint failure is this case's result, not the end of the bench
        score.plan, score.error = "error", f"{type(exc).__name__}: {exc}"[:300]
    score.latency_s = round(time.perf_counter() - started, 2)
    score.llm_calls = trace.usage.llm_calls
    return score, registry.names


async def run(args: argparse.Namespace, base_url: str, model: str) -> dict[str, Any]:
    cases = load_cases(DATA, args.n, args.seed)
    out: dict[str, Any] = {"variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "lodestar.toml"
        config.write_text(
            CONFIG.format(
                base_url=base_url,
                model=model,
                max_tokens=args.max_tokens,
                fmt=args.format,
                retries=args.parse_retries,
                chains=str(args.chains).lower(),
            ),
            encoding="utf-8",
        )
        settings = load_settings(config, env={"LODESTAR_HOME": str(Path(tmp) / "home")})
        async with LLMHub(settings) as hub:
            await hub.probe_all(("caller",))  # which response_format / tools the endpoint really honours
            out["capabilities"] = (await hub.capabilities("caller")).model_dump(mode="json")
            for variant in args.variants.split(","):
                rows: list[tuple[StepScore, list[str]]] = []
                started = time.perf_counter()
                for i, case in enumerate(cases, 1):
                    row = await predict(case, hub, variant)
                    rows.append(row)
                    score = row[0]
                    print(
                        f"  [{variant} {i}/{len(cases)}] {score.ref_name:<22} → plan={score.plan:<10} "
                        f"call={score.pred_name} args={json.dumps(score.pred_args)[:70]} "
                        f"f1={row[0].scores(row[1])['arg_f1']:.2f} ({score.latency_s:.0f} s)",
                        flush=True,
                    )
                metrics: dict[str, Any] = summarize_scores(rows)
                if variant == "caller":
                    metrics["plan_acc"] = None  # no planner in this variant
                out["variants"][variant] = {
                    "metrics": metrics,
                    "cases": len(rows),
                    "seconds": round(time.perf_counter() - started, 1),
                    "llm_calls": sum(r.llm_calls for r, _ in rows),
                    "rows": [r.model_dump() | {"scores": r.scores(names)} for r, names in rows],
                }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25, help="cases to sample (default 25)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="loop,caller")
    parser.add_argument(
        "--format",
        choices=("json", "text", "native", "auto"),
        default="json",
        help="the caller's output format (default json: what auto picks for the bundled model)",
    )
    parser.add_argument("--parse-retries", type=int, default=0, help="0 scores the first attempt, as α-UMi does")
    parser.add_argument("--chains", action="store_true", help="offer tool chains to the caller (off: one call)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument(
        "--base-url", default=None, help="an OpenAI-compatible endpoint (default: start the bundled model)"
    )
    parser.add_argument("--model", default="smollm2-135m-instruct")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the llama.cpp child
    server = None
    base_url = args.base_url
    if base_url is None:
        from agent.llm.local_server import LocalServer

        server = LocalServer(log_path=Path(tempfile.gettempdir()) / "lodestar-tools-quality-llama.log")
        server.start()
        asyncio.run(server.wait_ready())
        base_url = server.base_url
    try:
        started = time.perf_counter()
        result = asyncio.run(run(args, base_url, args.model))
    finally:
        if server is not None:
            server.stop()
    run_result = result
    result = {"runs": {}}
    if RESULTS.exists():  # one file for all formats: each run replaces only its own entry
        try:
            result = json.loads(RESULTS.read_text(encoding="utf-8"))
            result.setdefault("runs", {})
        except ValueError:
            pass
    run_result.update(
        {
            "data": "API-Bank level-1 (test-data/level-1-api.json), seeded uniform sample",
            "n": args.n,
            "seed": args.seed,
            "model": args.model,
            "endpoint": "bundled llama.cpp" if server else base_url,
            "format": args.format,
            "parse_retries": args.parse_retries,
            "chains": args.chains,
            "max_tokens": args.max_tokens,
            "temperature": 0.0,
            "wall_s": round(time.perf_counter() - started, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        }
    )
    result["runs"][args.format] = run_result
    print(f"API-Bank level-1, {args.n} cases, {args.model} ({args.format} format):")
    print(f"  {'variant':<8} {'Plan ACC':>9} {'Act EM':>7} {'Hallu':>6} {'Arg F1':>7} {'Arg F1 (folded)':>16}")
    for variant, row in run_result["variants"].items():
        m = row["metrics"]
        plan = "—" if m["plan_acc"] is None else f"{m['plan_acc']:.1f}"
        print(
            f"  {variant:<8} {plan:>9} {m['act_em']:>7.1f} {m['hallu']:>6.1f} {m['arg_f1']:>7.1f} "
            f"{m['arg_f1_normalized']:>16.1f}   ({row['seconds']:.0f} s, {row['llm_calls']} LLM calls)"
        )
    save_results(RESULTS, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
