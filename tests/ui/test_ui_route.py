"""The work pane shows auto mode's route: which way the router sent the question, and why."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from agent.core.trace import RouteEvent
from ui.format import Display
from ui.widgets.work import WorkPane


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield WorkPane(Display(stable=True), id="work")


async def test_route_event_is_shown_with_its_reason() -> None:
    app = PaneApp()
    async with app.run_test() as pilot:
        view, mounted = app.query_one(WorkPane).begin_run("Who made K1?", "auto")
        await mounted
        view.handle(
            RouteEvent(route="kg", reason="names graph entities: K1 (exact match)", tool="query_graph", alone=True)
        )
        await pilot.pause()
        shown = [str(s.render()) for s in view.query(Static) if "route" in str(s.render())]
        assert shown and "kg (query_graph)" in shown[0] and "names graph entities: K1" in shown[0]
        assert "decided by the router" in shown[0]
