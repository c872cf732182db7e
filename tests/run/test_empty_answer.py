"""An empty model output is a failure (exit 1, one line), never a blank success or a prompt shown as the answer
(issue 15, item 11)."""

from __future__ import annotations

import pytest

import app
from agent.core.errors import ModelOutputError
from agent.core.trace import Answer
from agent.run.question import run_question
from agent.testing.fake_openai import FakeOpenAIServer


@pytest.mark.parametrize("mode", ["direct", "tools"])
def test_an_empty_model_output_exits_1_with_one_line(
    settings, fake_server: FakeOpenAIServer, capsys, mode: str
) -> None:
    fake_server.reply("   ")  # every call, every role: nothing but whitespace
    assert app.main(["ask", "--mode", mode, "What is a lodestone?"]) == 1
    out, err = capsys.readouterr()
    assert not out.strip(), out
    lines = [line for line in err.splitlines() if not line.startswith("lodestar: warning:")]  # probe warnings
    assert len(lines) == 1 and "empty answer" in lines[0], err
    assert "Answer with what the history supports" not in out + err  # the summarizer's instruction


@pytest.mark.parametrize("mode", ["rag", "kg", "auto"])
async def test_every_mode_goes_through_the_same_check(hub, use_mode, mode: str) -> None:
    async def blank(question, hub, trace, on_delta, /):
        return Answer(text="\n")

    use_mode(mode, blank)
    with pytest.raises(ModelOutputError, match="empty answer"):
        await run_question("q?", mode, hub)
