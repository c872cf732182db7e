"""Loop guards over the fake endpoint: a stuck planner ends early, with an answer, and the repeat is not run."""

from __future__ import annotations

from typing import Any

from agent.core.trace import Plan, ToolCallEvent, ToolResultEvent, Trace
from agent.llm.hub import LLMHub
from agent.loop.answer import answer_tools
from agent.testing.fake_openai import FakeOpenAIServer, Reply

PLANNER = "You are the planner"
CALLER = "You are the caller"
SUMMARIZER = "You are the summarizer"


def bodies(server: FakeOpenAIServer, marker: str) -> list[dict[str, Any]]:
    return [r.json for r in server.chat_requests if marker in r.json["messages"][0]["content"]]


async def ask(hub: LLMHub, question: str) -> tuple[str, Trace]:
    trace = Trace()
    answer = await answer_tools(question, hub, trace, None)
    return answer.text, trace


async def test_same_plan_and_call_stopped_at_the_first_repeat(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply("I need the current time. Next: caller.", system_contains=PLANNER)
    fake_server.reply(Reply.tool_call("current_datetime", {}), system_contains=CALLER)
    fake_server.reply("It is now 12:00 UTC [1].", system_contains=SUMMARIZER)

    text, trace = await ask(hub, "Who built the H4 marine chronometer?")

    assert text == "It is now 12:00 UTC [1]."
    results = [e for e in trace.events if isinstance(e, ToolResultEvent)]
    assert [(r.name, r.ok, r.skipped) for r in results] == [
        ("current_datetime", True, False),
        ("current_datetime", False, True),
    ]
    assert sum(isinstance(e, ToolCallEvent) for e in trace.events) == 2
    assert trace.usage.llm_calls == 5  # planner, caller, planner, caller (repeat: not run), summarizer
    assert "repeated itself" in [e for e in trace.events if isinstance(e, Plan)][-1].thought
    summary = bodies(fake_server, SUMMARIZER)[0]["messages"][1]["content"]
    assert "kept repeating itself (the same tool call again)" in summary


async def test_varied_thoughts_same_call_ends_within_eight_calls(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    thoughts = iter(range(100))

    def planner(body: dict[str, Any], index: int) -> Reply:
        return Reply(content=f"Look at the clock, attempt {next(thoughts)}. Next: caller.")

    fake_server.reply(planner, system_contains=PLANNER)
    fake_server.reply(Reply.tool_call("current_datetime", {"timezone": "UTC"}), system_contains=CALLER)
    fake_server.reply("I could not find who built H4; the tools only told the time [1].", system_contains=SUMMARIZER)

    text, trace = await ask(hub, "Who built the H4 marine chronometer?")

    assert text.startswith("I could not find who built H4")
    assert trace.usage.llm_calls <= 8
    ran = [e for e in trace.events if isinstance(e, ToolResultEvent) and not e.skipped]
    assert len(ran) == 1 and ran[0].ok
    # after the blocked repeat, the planner reads that the result is already in hand
    third_plan = bodies(fake_server, PLANNER)[2]["messages"][1]["content"]
    assert "NOT RUN: current_datetime is the same tool call" in third_plan


async def test_a_different_call_after_a_repeat_still_runs(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(
        [
            "Add them. Next: caller.",
            "Add them again. Next: caller.",
            "Now multiply. Next: caller.",
            "Done. Next: summarizer.",
        ],
        system_contains=PLANNER,
    )
    fake_server.reply(
        [
            Reply.tool_call("calculator", {"expression": "2 + 3"}),
            Reply.tool_call("calculator", {"expression": "2 + 3"}),
            Reply.tool_call("calculator", {"expression": "5 * 4"}),
        ],
        system_contains=CALLER,
    )
    fake_server.reply("20 [1][2].", system_contains=SUMMARIZER)

    text, trace = await ask(hub, "What is (2 + 3) * 4?")

    assert text == "20 [1][2]."
    results = [(e.output, e.skipped) for e in trace.events if isinstance(e, ToolResultEvent)]
    assert results == [(5, False), (None, True), (20, False)]


async def test_planner_and_caller_replies_are_capped(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    hub.settings.loop.planner_max_tokens = 100
    hub.settings.loop.caller_max_tokens = 120
    fake_server.reply(["Compute. Next: caller.", "Done. Next: summarizer."], system_contains=PLANNER)
    fake_server.reply(Reply.tool_call("calculator", {"expression": "1 + 1"}), system_contains=CALLER)
    fake_server.reply("2 [1].", system_contains=SUMMARIZER)

    await ask(hub, "What is 1 + 1?")

    assert {b["max_tokens"] for b in bodies(fake_server, PLANNER)} == {100}
    assert {b["max_tokens"] for b in bodies(fake_server, CALLER)} == {120}
