"""Programs as chains (`[loop] chains = "program"`, ATC §4.1–4.2) over the fake endpoint, run in the real sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.core.config import LoopSettings, Settings
from agent.core.trace import ToolCallEvent, ToolResultEvent
from agent.llm.hub import LLMHub
from agent.loop.parsing import parse_program
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.loop.test_loop import CALLER, PLANNER, SUMMARIZER, events, requests_of, run_loop, script, user_text

TWO_TOOLS = """# convert_units, then calculator
km = convert_units(value=3, from_unit="nmi", to_unit="km")
total = calculator(expression=f"{km['value']} * 2")
print(f"{km['value']} km each way, {total} km there and back")
"""


@pytest.fixture
def programs_on(hub: LLMHub, pyodide_runtime: Path) -> LLMHub:
    hub.settings.loop.chains = "program"
    hub.settings.sandbox.pyodide_dir = pyodide_runtime
    return hub


@pytest.mark.parametrize("call_format", ["native", "text"])
async def test_a_program_calls_two_tools_and_combines_their_results(
    programs_on: LLMHub, fake_server: FakeOpenAIServer, call_format: str
) -> None:
    programs_on.settings.loop.tool_call_format = call_format  # type: ignore[assignment]  # a Literal field
    script(
        fake_server,
        planner=["Convert and double in one go. Next: caller.", "That answers it. Next: summarizer."],
        caller=[f"I will write a program.\n```python\n{TWO_TOOLS}```"],
        summary="11.112 km [1][2].",
    )
    answer, trace, _ = await run_loop(programs_on, "3 nautical miles there and back, in km?")

    assert answer.text == "11.112 km [1][2]."
    calls, results = events(trace, ToolCallEvent), events(trace, ToolResultEvent)
    assert [(c.name, c.step, c.arguments) for c in calls] == [
        ("convert_units", "1.p1", {"value": 3, "from_unit": "nmi", "to_unit": "km"}),
        ("calculator", "1.p2", {"expression": "5.556 * 2"}),
    ]
    assert [(r.ok, r.output) for r in results] == [
        (True, {"value": 5.556, "unit": "km", "from": "3 nmi"}),
        (True, 11.112),
    ]
    # what the program printed is the observation; both tool results are citable sources
    second_plan = user_text(requests_of(fake_server, PLANNER)[1])
    assert "5.556 km each way, 11.112 km there and back" in second_plan
    assert "observation (sources [1][2]):" in second_plan
    assert [c.source.split("(")[0] for c in answer.citations] == ["convert_units", "calculator"]
    # the caller was told about programs; declarative chains are off in this mode
    caller_body = requests_of(fake_server, CALLER)[0]
    assert "```python" in caller_body["messages"][0]["content"]
    assert "x = calculator(...)" in caller_body["messages"][0]["content"]
    if call_format == "native":
        assert "chain" not in [t["function"]["name"] for t in caller_body["tools"]]
    assert "5.556 km each way" in user_text(requests_of(fake_server, SUMMARIZER)[0])


async def test_a_failing_program_is_repaired_after_attribution(
    programs_on: LLMHub, fake_server: FakeOpenAIServer
) -> None:
    broken = TWO_TOOLS.replace('to_unit="km"', 'to_unit="parsecs-ish"')
    script(
        fake_server,
        planner=["Convert and double. Next: caller.", "Done. Next: summarizer."],
        caller=[f"```python\n{broken}```", f"```python\n{TWO_TOOLS}```"],
        summary="11.112 km [1][2].",
    )
    answer, trace, _ = await run_loop(programs_on, "3 nautical miles there and back, in km?")

    results = events(trace, ToolResultEvent)
    assert [(r.name, r.step, r.ok) for r in results] == [
        ("convert_units", "1.p1", False),
        ("convert_units", "1.r1.p1", True),
        ("calculator", "1.r1.p2", True),
    ]
    repair_request = requests_of(fake_server, CALLER)[1]["messages"]
    assert repair_request[-2] == {"role": "assistant", "content": f"```python\n{broken.rstrip()}\n```"}
    feedback = repair_request[-1]["content"]
    assert feedback.startswith("The program failed:\n<<<error>>>\nToolCallError: convert_units: ")
    assert "parsecs-ish" in feedback and "line 2: km = convert_units(" in feedback
    assert "The error is potentially triggered in calling the tool: convert_units" in feedback
    second_plan = user_text(requests_of(fake_server, PLANNER)[1])
    assert "(the program was repaired 1 time)" in second_plan and "11.112 km there and back" in second_plan
    assert answer.text == "11.112 km [1][2]."


async def test_repairs_are_bounded(programs_on: LLMHub, fake_server: FakeOpenAIServer) -> None:
    programs_on.settings.loop.chain_repairs = 1
    script(
        fake_server,
        planner=["Compute. Next: caller.", "It failed. Next: summarizer."],
        caller=["```python\nprint(calculator(expression='1/0'))\n```"],
        summary="It could not be computed.",
    )
    await run_loop(programs_on, "1/0?")
    assert len(requests_of(fake_server, CALLER)) == 2  # the program, then one repair, then no more
    second_plan = user_text(requests_of(fake_server, PLANNER)[1])
    assert "ERROR: ToolCallError: calculator:" in second_plan


async def test_a_plain_call_still_works_in_program_mode(programs_on: LLMHub, fake_server: FakeOpenAIServer) -> None:
    script(
        fake_server,
        planner=["Compute. Next: caller.", "Done. Next: summarizer."],
        caller=[Reply.tool_call("calculator", {"expression": "17 * 3"})],
        summary="51 [1].",
    )
    _, trace, _ = await run_loop(programs_on, "17 * 3?")
    assert [(r.step, r.output) for r in events(trace, ToolResultEvent)] == [("1", 51)]
    assert programs_on.settings.loop.programs


def test_a_program_is_read_from_any_reply_format() -> None:
    assert parse_program("Sure:\n```python\nprint(1)\n```\nDone.") is not None
    assert parse_program("```py\nprint(1)\n") is not None  # cut short: runs to the end
    held_to_json = parse_program('{"tool": "program", "arguments": {"code": "print(calculator(expression=\'2\'))"}}')
    assert held_to_json is not None and held_to_json.code == "print(calculator(expression='2'))"
    assert parse_program('{"tool": "calculator", "arguments": {"expression": "2"}}') is None
    assert parse_program("Action: calculator\nAction Input: {}") is None


@pytest.mark.parametrize(
    ("value", "declarative", "program"),
    [("declarative", True, False), (True, True, False), (False, False, False), ("program", False, True)],
)
def test_chains_setting_keeps_its_meanings(value: Any, declarative: bool, program: bool) -> None:
    loop = LoopSettings(chains=value)
    assert (loop.declarative_chains, loop.programs) == (declarative, program)
    assert LoopSettings().chains == "declarative"


async def test_a_missing_runtime_is_one_clear_error(hub: LLMHub, fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    from agent.core.errors import ConfigError

    hub.settings.loop.chains = "program"
    hub.settings.sandbox.pyodide_dir = tmp_path  # no Pyodide here
    script(
        fake_server,
        planner=["Compute. Next: caller."],
        caller=["```python\nprint(calculator(expression='2'))\n```"],
    )
    with pytest.raises(ConfigError, match=r"^sandbox\.pyodide_dir: no pyodide\.mjs in "):
        await run_loop(hub, "2?")


async def test_each_question_gets_a_fresh_sandbox_started_ahead(
    settings: Settings, fake_server: FakeOpenAIServer, pyodide_runtime: Path
) -> None:
    import asyncio
    import os

    from agent.core.trace import Trace
    from agent.loop.engine import Loop
    from tools.builtins import build_registry
    from tools.sandbox.pool import SandboxPool

    settings.loop.chains = "program"
    settings.sandbox.pyodide_dir = pyodide_runtime
    script(
        fake_server,
        planner=[
            "Compute. Next: caller.",
            "Done. Next: summarizer.",
            "Compute. Next: caller.",
            "Done. Next: summarizer.",
        ],
        caller=["```python\nprint(calculator(expression='2 + 2'))\n```"],
    )
    import glob
    import tempfile

    folders = f"{tempfile.gettempdir()}/lodestar-sandbox-*"
    before = set(glob.glob(folders))
    async with LLMHub(settings) as hub:
        pool = SandboxPool.of(hub)
        await Loop("2 + 2?", hub, Trace(), build_registry(settings, knowledge=False)).run()
        assert pool._spare is not None  # the next question's, started in the background after the first
        ahead = await asyncio.shield(pool._spare)
        assert ahead.alive
        second = Loop("2 + 2?", hub, Trace(), build_registry(settings, knowledge=False))
        await second.run()
        assert not ahead.alive  # the second question used it, and it was closed when that question ended
        assert pool._spare is not None
        spare = await asyncio.shield(pool._spare)
        assert spare is not ahead and spare.alive and spare.process is not None
        spare_pid = spare.process.pid
    assert not spare.alive  # closed with the hub
    with pytest.raises(ProcessLookupError):
        os.kill(spare_pid, 0)
    assert set(glob.glob(folders)) <= before  # every temporary folder went with its process
    observations = [user_text(b) for b in requests_of(fake_server, SUMMARIZER)]
    assert len(observations) == 2 and all("4" in o for o in observations)
