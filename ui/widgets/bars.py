"""The two one-line bars under the chat: the session's status, and a background job's progress."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static

ICONS = {"starting": "◌", "ready": "●", "error": "✗", "busy": "◐"}
STATES = {"starting": "starting", "ready": "ready", "error": "model server down"}


class StatusBar(Static):
    """One line: model server state, mode, models per role."""

    def show(self, state: str, mode: str, roles: str, *, answering: bool = False, note: str | None = None) -> None:
        icon, text = ICONS.get(state, "·"), note or STATES.get(state, state)
        if answering:
            icon, text = "◐", note or "answering · Esc cancels"
        self.update(Text.assemble((f"{icon} {text}", "bold"), " · mode ", (mode, "bold"), f" · {roles}"))


class JobBar(Horizontal):
    """Progress of a background job (ingest, graph load); shown only while one runs, built with the first one."""

    def begin(self, label: str) -> None:
        if not self.children:
            self.mount_all([Label("", id="job-label"), ProgressBar(total=None, show_eta=False, id="job-progress")])
        self.label = label
        self.chunks = 0
        self.query_one("#job-label", Label).update(f"{label}…")
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.add_class("-active")

    def progress(self, event: str, n: int) -> None:
        bar = self.query_one(ProgressBar)
        if event == "total":
            bar.update(total=max(n, 1), progress=0)
        elif event == "advance":
            bar.advance(n)
        elif event == "chunks":
            self.chunks += n
            self.query_one("#job-label", Label).update(f"{self.label}… {self.chunks} chunks embedded")

    def end(self) -> None:
        self.remove_class("-active")
