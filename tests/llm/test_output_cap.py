"""A server that ignores max_tokens (issue 15, item 15): what is kept, printed, traced and re-sent of one reply is
bounded by what max_tokens allows, and the cut is said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app
from agent.testing.fake_openai import FakeOpenAIServer, Reply

HUGE = "word " * 100_000  # 500 KB, whatever max_tokens said


@pytest.mark.parametrize("streamed", [True, False])
def test_a_huge_reply_is_cut_and_says_so(
    settings, fake_server: FakeOpenAIServer, capsys, tmp_path: Path, streamed: bool
) -> None:
    fake_server.reply(Reply(content=HUGE, chunks=2000, ignore_max_tokens=True))
    trace = tmp_path / "t.jsonl"
    argv = ["ask", "--mode", "direct", "--trace", str(trace), "Tell me everything."]
    assert app.main(argv if streamed else [*argv[:3], "--json", *argv[3:]]) == 0
    out = capsys.readouterr().out
    answer = out if streamed else json.loads(out)["answer"]
    limit = 512 * 8 + 1024 + 100  # the role's max_tokens is 512, and room for the note
    assert len(answer.strip()) <= limit and "output cut" in answer
    assert trace.stat().st_size < 3 * limit  # the trace keeps the cut text, not 500 KB


async def test_the_loop_does_not_resend_a_huge_plan(hub, fake_server: FakeOpenAIServer) -> None:
    from agent.core.trace import Trace
    from agent.loop.answer import answer_tools

    fake_server.reply(
        Reply(content="Thought " + HUGE + "\nNext: summarizer", chunks=2000, ignore_max_tokens=True),
        system_contains="plan",
    )
    fake_server.reply("The answer.")
    try:
        await answer_tools("q?", hub, Trace(), None)
    except Exception:
        pass  # the planner's format is not the point: the size of what was sent is
    biggest = max(len(json.dumps(r.json)) for r in fake_server.chat_requests)
    assert biggest < 60_000, biggest
