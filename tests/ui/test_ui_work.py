"""The work pane shows why a role was asked twice: a ``repair`` event renders as its own entry."""

from __future__ import annotations

from textual.app import App, ComposeResult

from agent.core.trace import LlmCall, Repair
from ui.format import Display
from ui.widgets.run import RunView
from ui.widgets.work import WorkPane


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield WorkPane(Display(stable=True))


async def test_a_repair_is_shown_between_the_two_calls() -> None:
    app = PaneApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view, mounted = app.query_one(WorkPane).begin_run("2+3?", "tools")
        await mounted
        view.handle(LlmCall(role="caller", model="m"))
        view.handle(Repair(role="caller", problem="Action Input is not valid JSON", action="retried"))
        view.handle(LlmCall(role="caller", model="m"))
        await pilot.pause()
        entries = [w for w in app.query_one(RunView).children if w.has_class("llm-call") or w.has_class("repair")]
        assert [w.has_class("repair") for w in entries] == [False, True, False]
        shown = str(entries[1].render())
        assert "caller" in shown and "not valid JSON" in shown and "retried" in shown
