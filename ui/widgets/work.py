"""The work pane: the agent's trace, live. One block per run (:class:`ui.widgets.run.RunView`), newest last.

The run view (tables, trees, every trace event type) is imported with the first run, not before the first paint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll
from textual.widget import AwaitMount

from ui.format import Display

if TYPE_CHECKING:
    from ui.widgets.run import RunView


class WorkPane(VerticalScroll):
    """The conversation's recent runs, newest at the bottom; stays scrolled to the end unless the user scrolls.

    Only the last ``MAX_RUNS`` runs are kept: every widget here is laid out on each frame, and a long session
    would otherwise slow the streaming answer down (older runs stay in their trace files).
    """

    MAX_RUNS = 8

    can_focus = True

    def __init__(self, display: Display, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # Textual's keyword-only widget options, passed through
        self.fmt = display

    @property
    def following(self) -> bool:
        """True unless the user scrolled up to read: new entries then keep the view at the end."""
        return self.scroll_y >= self.max_scroll_y - 1

    def begin_run(self, question: str, mode: str) -> tuple[RunView, AwaitMount]:
        """Add a block for a new run; its events may arrive before the returned mount completes."""
        following = self.following
        from ui.widgets.run import RunView

        old = list(self.query(RunView))[: -self.MAX_RUNS + 1 or None]
        if old:
            self.remove_children(old)
        view = RunView(question, mode, self.fmt, pane=self)
        mounted = self.mount(view)
        if following:
            self.call_after_refresh(self.scroll_end, animate=False)
        return view, mounted

    async def clear(self) -> None:
        await self.remove_children()
