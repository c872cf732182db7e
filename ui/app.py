"""The chat TUI: ask in any mode, watch the answer stream and the agent's work live, browse past conversations.

``lodestar`` / ``lodestar chat`` calls :func:`run_tui`. The app is thin: key bindings and palette commands that
delegate to the conversation (:mod:`ui.controller`), the model-server session (:mod:`ui.session`: one hub for the
app's life, started after the first paint and closed on exit) and the palette jobs (:mod:`ui.background`). Screens are
imported when opened, so the first paint waits for none of them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Select, Static
from textual.worker import Worker

from agent.core.config import Settings
from agent.run.modes import MODE_NAMES, MODES, get_mode
from ui.background import JobRunner
from ui.controller import ChatController, Mark, welcome
from ui.format import Display, steady_cursors
from ui.session import HubSession
from ui.widgets.bars import JobBar, StatusBar
from ui.widgets.chat import AnswerMessage, ChatLog
from ui.widgets.work import WorkPane


class LodestarApp(App[int]):
    CSS_PATH = "lodestar.tcss"
    TITLE = "Lodestar"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("escape", "cancel", "Cancel answer"),
        Binding("f1", "help", "Help"),
        Binding("f2", "cycle_mode", "Mode"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "history", "History"),
        Binding("ctrl+s", "settings", "Models"),
        Binding("ctrl+y", "copy_answer", "Copy answer", show=False),
        Binding("f3", "toggle_work", "Show/hide the work pane", show=False),
        Binding("pageup", "scroll_chat(-1)", "Scroll chat up", show=False),
        Binding("pagedown", "scroll_chat(1)", "Scroll chat down", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        mode: str = "auto",
        stable: bool = False,
        history_path: Path | None = None,
        on_mark: Mark | None = None,
    ) -> None:
        """``on_mark(name)`` is a benchmark's clock (``first_paint`` here; the controller marks the answer path)."""
        super().__init__()
        get_mode(mode)  # an unknown name is bad input
        self.settings = settings
        self.mode = mode
        self.fmt = Display(stable)
        self._mark = on_mark if on_mark is not None else (lambda name: None)
        self.session = HubSession(settings, self.fmt, self.notify, self._update_status)
        history = history_path or settings.home / "history.sqlite3"
        self.chat = ChatController(self, self.session, history, self.fmt, self._update_status, on_mark)
        self.jobs = JobRunner(self, lambda: self.query_one(JobBar), settings)
        self._shut_down = False

    # state the tests and benchmarks read
    hub = property(lambda self: self.session.hub)
    hub_state = property(lambda self: self.session.state)
    hub_error = property(lambda self: self.session.error)
    answering = property(lambda self: self.chat.answering)
    answer_worker = property(lambda self: self.chat.worker)
    conversation_id = property(lambda self: self.chat.conversation_id)
    job_worker = property(lambda self: self.jobs.worker)

    def notify(
        self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None, **_: Any
    ) -> None:
        """Notifications show plain text (error messages may contain brackets); in snapshot runs they stay up,
        so a slow machine cannot make a screenshot miss one."""
        timeout = 3600 if self.fmt.stable else timeout
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✦")
        with Horizontal(id="main"):
            with Vertical(id="chat-pane"):
                with ChatLog(id="chat"):
                    yield welcome()
                with Horizontal(id="composer"):
                    modes = [(m, m) for m in MODE_NAMES]
                    tooltip = "answer mode (F2 cycles)"
                    yield Select(modes, value=self.mode, allow_blank=False, id="mode", tooltip=tooltip)
                    yield Input(placeholder="Ask a question — Enter sends, Esc cancels", id="question")
            with Vertical(id="work-side"):
                yield Static("Work", id="work-title")
                yield WorkPane(self.fmt, id="work")
        yield JobBar(id="jobs")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        steady_cursors(self.screen)
        self.query_one("#question", Input).focus()
        self.query_one(ChatLog).anchor()
        self._update_status()
        self.call_after_refresh(self._mark, "first_paint")
        self.call_after_refresh(self.run_worker, self.session.start, name="hub", group="hub", exit_on_error=False)

    async def on_unmount(self) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Close the hub (stopping the embedded server, if any) and the history; safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        await self.chat.drain()  # quitting mid-answer: keep what was said in the history
        await self.session.close()
        with contextlib.suppress(Exception):
            self.chat.close()

    def _update_status(self, note: str | None = None) -> None:
        with contextlib.suppress(Exception):  # not mounted yet, or closing
            bar, session = self.query_one(StatusBar), self.session
            bar.show(session.state, self.mode, session.roles_summary(), answering=self.answering, note=note)

    # -- asking -----------------------------------------------------------------------------------------------

    @on(Input.Submitted, "#question")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() and self.chat.submit(event.value.strip(), self.mode):
            event.input.value = ""

    async def ask(self, question: str, mode: str | None = None) -> Worker[None] | None:
        """Answer ``question`` in ``mode`` (the selected one by default); None when the input is rejected."""
        return self.chat.ask(question, mode or self.mode)

    def action_cancel(self) -> None:
        if self.chat.cancel():
            self._update_status("cancelling…")

    # -- conversations ----------------------------------------------------------------------------------------

    async def action_new_chat(self) -> None:
        if not self.chat.busy():
            await self.chat.new()

    def action_history(self) -> None:
        from ui.screens.history import NEW, HistoryScreen

        if not self.chat.busy():
            screen = HistoryScreen(self.chat.store, self.fmt, self.conversation_id)
            self.push_screen(screen, partial(self.chat.history_closed, new=NEW))

    # -- citations, copy, panes, modes, help -----------------------------------------------------------------

    def on_answer_message_citation_opened(self, event: AnswerMessage.CitationOpened) -> None:
        from ui.screens.citation import CitationScreen

        self.push_screen(CitationScreen(event.citation, event.index))

    def action_copy_answer(self) -> None:
        text = self.chat.copyable(self.focused)
        if text is None:
            self.notify("no answer to copy yet", severity="warning", timeout=2)
            return
        self.copy_to_clipboard(text)
        self.notify("answer copied to the clipboard", timeout=2)

    def action_toggle_work(self) -> None:
        side = self.query_one("#work-side")
        side.display = not side.display

    def action_scroll_chat(self, direction: int) -> None:
        chat = self.query_one(ChatLog)
        chat.scroll_page_down() if direction > 0 else chat.scroll_page_up()

    def action_help(self) -> None:
        from ui.screens.help import HelpScreen

        bindings = [b for b in self.BINDINGS if isinstance(b, Binding)]
        self.push_screen(HelpScreen([*bindings, Binding("ctrl+p", "command_palette", "Command palette")]))

    @on(Select.Changed, "#mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.mode:
            self.set_mode(event.value)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            return
        self.mode = mode
        select = self.query_one("#mode", Select)
        if select.value != mode:
            select.value = mode
        self._update_status()
        self.notify(f"mode {mode}: {MODES[mode].summary}", timeout=2)

    def action_cycle_mode(self) -> None:
        self.set_mode(MODE_NAMES[(MODE_NAMES.index(self.mode) + 1) % len(MODE_NAMES)])

    # -- models per role, palette jobs ------------------------------------------------------------------------

    def action_settings(self) -> None:
        from ui.screens.settings import SettingsScreen

        self.push_screen(SettingsScreen(self.settings, self.fmt, self.session.local_url), self.session.apply_roles)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in (
            ("Ingest documents", "Add files or folders to the document store (with progress)", self.action_ingest),
            ("Load knowledge graph", "Merge a triples file (and aliases) into the graph", self.jobs.prompt_graph),
            ("New conversation", "Start a fresh conversation (Ctrl+N)", self.action_new_chat),
            ("Conversation history", "Browse, resume or delete conversations (Ctrl+O)", self.action_history),
            ("Models per role", "Endpoint and model of every role (Ctrl+S)", self.action_settings),
            ("Copy last answer", "To the clipboard (Ctrl+Y)", self.action_copy_answer),
            ("Toggle work pane", "Show or hide the agent's work (F3)", self.action_toggle_work),
            ("Keys", "Every key binding (F1)", self.action_help),
        ):
            yield SystemCommand(title, help_text, action)
        for mode in MODE_NAMES:
            yield SystemCommand(f"Mode: {mode}", MODES[mode].summary, partial(self.set_mode, mode))

    def action_ingest(self) -> None:
        self.jobs.prompt_ingest()


async def run_tui(settings: Settings) -> int:
    """``lodestar chat``: run the app until Ctrl+Q; the hub (and any embedded server) is closed on the way out."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app = LodestarApp(settings)
    try:
        await app.run_async()
    finally:
        await app.shutdown()
    return app.return_code or 0
