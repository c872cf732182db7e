"""Terminal escape injection (issue 15, item 8): nothing from a model, document or tool reaches the terminal as a
control sequence, in `ask` (answer, citations, errors) or in the TUI (the streamed answer, the work panel)."""

from __future__ import annotations

import re

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Markdown

import app
from agent.core.terminal import safe_text
from agent.core.trace import ToolResultEvent
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from ui.stream import LiveMarkdown

HOSTILE = (
    "Sure.\x1b]52;c;ZWNobyBwd25lZA==\x07 Title\x1b]0;pwned\x1b\\ \x1b[2J\x1b[1;31mred\x1b[0m "
    "\x9b6n hidden\rover \x1bP+q544e\x1b\\ done\x08."
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\x1b]52;c;SGVsbG8=\x07b", "ab"),
        ("x\x1b]0;title\x1b\\y", "xy"),
        ("\x1b[2J\x1b[1;31mred\x1b[0m", "red"),
        ("\x9b31m8-bit CSI", "8-bit CSI"),
        ("ok\r\nnext", "ok\nnext"),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("a split \x1b", "a split "),
        ("Ünïcödé, 中文, emoji 🧭", "Ünïcödé, 中文, emoji 🧭"),
    ],
)
def test_safe_text(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown


def test_ask_prints_no_control_sequence_from_the_model(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    fake_server.reply(HOSTILE)
    assert app.main(["ask", "--mode", "direct", "q?"]) == 0
    out, err = capsys.readouterr()
    assert not CONTROL.search(out + err), repr(out + err)
    assert "Sure." in out and "red" in out and "done." in out


def test_ask_prints_no_control_sequence_from_an_error(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    fake_server.reply(Reply.error(400, "bad request \x1b]0;owned\x07 \x1b[31mred"))
    assert app.main(["ask", "--mode", "direct", "q?"]) in (1, 2)
    out, err = capsys.readouterr()
    assert "owned" not in err or not CONTROL.search(err.rstrip("\n")), repr(err)
    assert not CONTROL.search(out + err.rstrip("\n")), repr(err)


class OneMarkdown(App[None]):
    def compose(self) -> ComposeResult:
        yield Markdown()


async def test_the_tui_stream_renders_no_control_sequence() -> None:
    tui = OneMarkdown()
    async with tui.run_test():
        markdown = tui.query_one(Markdown)
        live = LiveMarkdown(markdown).start()
        for piece in [HOSTILE[:12], HOSTILE[12:30], HOSTILE[30:]]:  # a sequence split across pieces
            live.feed(piece)
        await live.finish()
        assert not CONTROL.search(markdown.source), repr(markdown.source)


async def test_the_work_panel_cleans_tool_output() -> None:
    from ui.widgets.run import RunView

    shown: list[ToolResultEvent] = []

    class Probe(RunView):
        def _on_tool_result(self, event: ToolResultEvent) -> None:
            shown.append(event)

    panel = Probe.__new__(Probe)
    panel._is_live, panel.events, panel._backlog = True, 0, []
    panel.handle(ToolResultEvent(name="t", ok=True, output={"x": HOSTILE}, error="\x1b]52;c;abc\x07"))
    assert shown and not CONTROL.search(shown[0].output["x"]) and not CONTROL.search(shown[0].error or "")
