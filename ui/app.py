"""The chat TUI: ask in any mode, watch the answer stream and the agent's work live, browse past conversations.

``lodestar`` / ``lodestar chat`` calls :func:`run_tui`. The app owns one :class:`LLMHub` for its whole life
(started on mount — which may start the embedded llama.cpp server — and closed on exit), runs each question in a
worker that Esc cancels (cancelling the worker closes the HTTP stream), feeds the run's trace events to the work
pane, and keeps every conversation in ``LODESTAR_HOME/history.sqlite3``. Errors become notifications with the
one-line reason; the app keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker

from agent.core.config import ROLES, RoleSettings, Settings
from agent.core.errors import BadInputError, EndpointError, LodestarError
from agent.core.trace import RunEnd, ToolResultEvent, Trace, Usage, read_trace
from agent.llm.hub import LLMHub
from agent.run.conversation import Turn
from agent.run.modes import MODE_NAMES, MODES, get_mode
from agent.run.question import RunResult, run_question, validate_question
from ui import jobs
from ui.format import Display, one_line, steady_cursors
from ui.history import HistoryStore, Message, turns
from ui.screens.citation import CitationScreen
from ui.screens.help import HelpScreen
from ui.screens.history import NEW, HistoryScreen
from ui.screens.jobs import GraphPrompt, IngestPrompt
from ui.screens.settings import RoleChoice, SettingsScreen
from ui.widgets.chat import AnswerMessage, ChatLog, UserMessage
from ui.widgets.work import RunView, WorkPane

MAX_REPLAYED_TRACES = WorkPane.MAX_RUNS  # a resumed conversation shows the work of its last answers
WELCOME = (
    "Ask a question below. The answer streams here; the agent's work — LLM calls, plans, tool calls, "
    "scored documents, graph steps — appears on the right.\n\n"
    "F2 switches mode · Ctrl+P: ingest documents, load a graph, and more · Ctrl+O history · F1 all keys"
)


class StatusBar(Static):
    """One line: model server state, mode, models per role."""


class JobBar(Horizontal):
    """Progress of a background job (ingest, graph load); shown only while one runs."""

    def compose(self) -> ComposeResult:
        yield Label("", id="job-label")
        yield ProgressBar(total=None, show_eta=False, id="job-progress")

    def begin(self, label: str) -> None:
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
        self, settings: Settings, *, mode: str = "auto", stable: bool = False, history_path: Path | None = None
    ) -> None:
        super().__init__()
        get_mode(mode)  # an unknown name is bad input
        self.settings = settings
        self.mode = mode
        self.fmt = Display(stable)
        self.store = HistoryStore(history_path or settings.home / "history.sqlite3")
        self.hub: LLMHub | None = None
        self.hub_state = "starting"
        self.hub_error: str | None = None
        self._hub_ready = asyncio.Event()
        self._probed = False
        self.conversation_id: int | None = None
        self.answer_worker: Worker[None] | None = None
        self.job_worker: Worker[None] | None = None
        self.marks: dict[str, float] = {"init": time.perf_counter()}  # for bench/tui.py
        self._shut_down = False

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications show plain text (error messages may contain brackets); in snapshot runs they stay up,
        so a slow machine cannot make a screenshot miss one."""
        super().notify(
            message, title=title, severity=severity, timeout=3600 if self.fmt.stable else timeout, markup=markup
        )

    # -- layout -----------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="✦")
        with Horizontal(id="main"):
            with Vertical(id="chat-pane"):
                with ChatLog(id="chat"):
                    yield Static(WELCOME, classes="welcome", markup=False)
                with Horizontal(id="composer"):
                    yield Select(
                        [(m, m) for m in MODE_NAMES],
                        value=self.mode,
                        allow_blank=False,
                        id="mode",
                        tooltip="answer mode (F2 cycles)",
                    )
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
        self.run_worker(self._start_hub(), name="hub", group="hub", exit_on_error=False)
        self.call_after_refresh(lambda: self.marks.setdefault("first_paint", time.perf_counter()))

    async def on_unmount(self) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Close the hub (stopping the embedded server, if any) and the history; safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        worker = self.answer_worker
        if worker is not None and worker.is_running:  # quitting mid-answer: keep what was said in the history
            worker.cancel()
            deadline = time.monotonic() + 3
            while self.answer_worker is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        hub, self.hub = self.hub, None
        if hub is not None:
            with contextlib.suppress(Exception):
                await hub.aclose()
        with contextlib.suppress(Exception):
            self.store.close()

    # -- the model server --------------------------------------------------------------------------------------

    async def _start_hub(self) -> None:
        hub = LLMHub(self.settings)
        self.hub = hub
        if self.settings.uses_local:
            self._set_hub_state("starting", "starting the embedded model server (llama.cpp)…")
            self.notify("No endpoint configured: starting the embedded model server…", title="model server", timeout=5)
        try:
            await hub.start()
            hub.connect_roles()  # builds every role's HTTP client now, not on the first question
        except LodestarError as exc:
            self._hub_failed(str(exc))
        except Exception as exc:
            self._hub_failed(f"{type(exc).__name__}: {exc}")
        else:
            self._set_hub_state("ready")
            if self.settings.uses_local:
                self.notify("embedded model server ready", title="model server", timeout=3)
        finally:
            self._hub_ready.set()

    def _hub_failed(self, reason: str) -> None:
        self.hub_error = self.fmt.text(reason)
        self._set_hub_state("error", f"model server failed: {self.hub_error}")
        self.notify(self.hub_error, title="model server", severity="error", timeout=10)

    async def _require_hub(self) -> LLMHub:
        if not self._hub_ready.is_set():
            self._update_status("waiting for the model server…")
            await self._hub_ready.wait()
        if self.hub is None or self.hub_error:
            raise EndpointError(f"the model server is not running: {self.hub_error or 'closed'}")
        return self.hub

    def _set_hub_state(self, state: str, note: str | None = None) -> None:
        self.hub_state = state
        self._update_status(note)

    def _update_status(self, note: str | None = None) -> None:
        icon = {"starting": "◌", "ready": "●", "error": "✗", "busy": "◐"}.get(self.hub_state, "·")
        state = note or {"starting": "starting", "ready": "ready", "error": "model server down"}.get(
            self.hub_state, self.hub_state
        )
        if self.answering:
            icon, state = "◐", note or "answering · Esc cancels"
        try:
            roles = self.fmt.roles_summary(self.settings, self.hub.local_url if self.hub else None)
        except LodestarError as exc:
            roles = one_line(str(exc))
        text = Text.assemble((f"{icon} {state}", "bold"), " · mode ", (self.mode, "bold"), f" · {roles}")
        with contextlib.suppress(Exception):
            self.query_one(StatusBar).update(text)

    # -- asking -----------------------------------------------------------------------------------------------

    @property
    def answering(self) -> bool:
        return self.answer_worker is not None and self.answer_worker.is_running

    @on(Input.Submitted, "#question")
    async def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        question = event.value.strip()
        if not question:
            return
        if self.answering:
            self.notify("an answer is still running: Esc cancels it", severity="warning", timeout=3)
            return
        event.input.value = ""
        await self.ask(question)

    async def ask(self, question: str, mode: str | None = None) -> Worker[None] | None:
        """Show the question, then answer it in a worker; returns the worker (None when the input is rejected).

        The worker starts at once: the HTTP request overlaps with mounting the messages, and the first pieces
        and trace events are buffered until their widgets are ready.
        """
        mode = mode or self.mode
        try:
            question = validate_question(question)
        except BadInputError as exc:
            self.notify(str(exc), severity="warning")
            return None
        self.marks["asked"] = time.perf_counter()
        chat = self.query_one(ChatLog)
        chat.query(".welcome").remove()
        answer = AnswerMessage(mode=mode)
        answer_mounted = chat.mount_all([UserMessage(question), answer])
        chat.anchor()
        run, _ = self.query_one(WorkPane).begin_run(question, mode)
        conversation = self._conversation_for(question)
        context = self._turns(conversation)
        self._save(conversation, Message(role="user", content=question, mode=mode))
        self.answer_worker = self.run_worker(
            self._answer(question, mode, answer, run, conversation, answer_mounted, context),
            name="answer",
            group="answer",
            exclusive=True,
            exit_on_error=False,
        )
        self._update_status()
        return self.answer_worker

    async def _answer(
        self,
        question: str,
        mode: str,
        answer: AnswerMessage,
        run: RunView,
        conversation: int | None,
        answer_mounted: Awaitable[object],
        context: list[Turn],
    ) -> None:
        started = time.perf_counter()
        result: RunResult | None = None
        trace: Trace | None = None
        status, error = "error", None
        live = answer.start_stream(on_render=self._on_stream_render, ready=answer_mounted)
        try:
            hub = await self._require_hub()
            if MODES[mode].needs_probe and not self._probed:
                self._update_status("probing the endpoint's capabilities…")
                await hub.probe_all()
                self._probed = True
                self._update_status()
            trace = Trace(self.settings.traces_dir)
            trace.add_sink(run.handle)
            trace.add_sink(self._notify_failures)
            result = await run_question(question, mode, hub, trace=trace, on_delta=live.feed, history=context)
            status = "ok"
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except LodestarError as exc:
            error = self.fmt.text(str(exc))
            self.notify(
                error,
                title=f"{mode} mode",
                timeout=8,
                severity="warning" if isinstance(exc, BadInputError) else "error",
            )
        except Exception as exc:
            error = self.fmt.text(f"internal error: {type(exc).__name__}: {exc}")
            self.notify(error, title=f"{mode} mode", severity="error", timeout=10)
        finally:
            elapsed = time.perf_counter() - started
            usage = result.usage if result else (trace.usage if trace else Usage())
            if trace is not None:
                trace.close()
            try:
                if not run.finished:  # failed before the run began (mode unavailable, model server down)
                    run.handle(RunEnd(ok=False, error=error or status))
                await self._settle(answer, conversation, mode, status, result, usage, elapsed, error, trace)
            except Exception:
                pass
            self.answer_worker = None
            self._update_status()

    def _notify_failures(self, event: object) -> None:
        """A failed tool does not end the run (the agent sees the error and goes on), but the user should know."""
        if isinstance(event, ToolResultEvent) and not event.ok:
            self.notify(
                self.fmt.text(event.error or "failed", 200),
                title=f"tool {event.name} failed",
                severity="warning",
                timeout=6,
            )

    def _on_stream_render(self) -> None:
        if "first_token_rendered" not in self.marks:
            self.marks["first_token_rendered"] = time.perf_counter()
            self.call_after_refresh(lambda: self.marks.setdefault("first_token_painted", time.perf_counter()))

    async def _settle(
        self,
        answer: AnswerMessage,
        conversation: int | None,
        mode: str,
        status: str,
        result: RunResult | None,
        usage: Usage,
        elapsed: float,
        error: str | None,
        trace: Trace | None,
    ) -> None:
        """Record the answer in the history first (the app may be closing), then settle its message."""
        live = answer.live
        text = result.answer if result else (live.text if live else "")
        self._save(
            conversation,
            Message(
                role="assistant",
                content=text,
                mode=mode,
                status=status,
                error=error,
                citations=result.citations if result else [],
                usage=usage,
                latency_s=round(elapsed, 3),
                trace_file=str(trace.path) if trace and trace.path else None,
            ),
        )
        stream_s = None
        if live is not None and live.first_render_at and live.last_render_at:
            stream_s = live.last_render_at - live.first_render_at
        footer = f"{mode} · {self.fmt.usage(usage)} · {self.fmt.seconds(elapsed)}"
        footer += self.fmt.rate(usage.completion_tokens, stream_s)
        await answer.finish(
            status=status,
            text=result.answer if result else None,
            citations=result.citations if result else None,
            footer=footer,
            error=error,
        )
        self.marks["settled"] = time.perf_counter()

    def action_cancel(self) -> None:
        if self.answering and self.answer_worker is not None:
            self.answer_worker.cancel()
            self._update_status("cancelling…")

    # -- conversations ----------------------------------------------------------------------------------------

    def _conversation_for(self, question: str) -> int | None:
        if self.conversation_id is None:
            try:
                self.conversation_id = self.store.new_conversation(question)
            except Exception as exc:
                self.notify(f"history not saved: {one_line(str(exc))}", severity="warning")
                return None
            self.sub_title = self._title(self.conversation_id)
        return self.conversation_id

    def _turns(self, conversation: int | None) -> list[Turn]:
        """The conversation so far, as context for its next question (none when the history is unavailable)."""
        if conversation is None:
            return []
        try:
            return turns(self.store.messages(conversation))
        except Exception:
            return []

    def _title(self, conversation: int) -> str:
        conv = self.store.get(conversation)
        return conv.title if conv else ""

    def _save(self, conversation: int | None, message: Message) -> None:
        if conversation is None:
            return
        try:
            self.store.add(conversation, message)
        except Exception as exc:
            self.notify(f"history not saved: {one_line(str(exc))}", severity="warning")

    async def action_new_chat(self) -> None:
        if self.answering:
            self.notify("an answer is running: Esc cancels it first", severity="warning", timeout=3)
            return
        await self._clear()
        await self.query_one(ChatLog).mount(Static(WELCOME, classes="welcome", markup=False))
        self.query_one("#question", Input).focus()

    async def _clear(self) -> None:
        self.conversation_id = None
        self.sub_title = ""
        await self.query_one(ChatLog).remove_children()
        await self.query_one(WorkPane).clear()

    def action_history(self) -> None:
        if self.answering:
            self.notify("an answer is running: Esc cancels it first", severity="warning", timeout=3)
            return
        self.push_screen(HistoryScreen(self.store, self.fmt, self.conversation_id), self._history_closed)

    async def _history_closed(self, choice: int | None) -> None:
        if choice == NEW:
            await self.action_new_chat()
        elif choice is not None:
            await self.resume(choice)
        elif self.conversation_id is not None and self.store.get(self.conversation_id) is None:
            await self.action_new_chat()  # the open conversation was deleted

    async def resume(self, conversation: int) -> None:
        """Show a stored conversation (and the work of its last answers); new questions continue it."""
        await self._clear()
        chat = self.query_one(ChatLog)
        work = self.query_one(WorkPane)
        messages = self.store.messages(conversation)
        widgets: list[Static | AnswerMessage] = []
        for message in messages:
            if message.role == "user":
                widgets.append(UserMessage(message.content))
                continue
            footer = message.mode or ""
            if message.usage is not None:
                footer += f" · {self.fmt.usage(message.usage)} · {self.fmt.seconds(message.latency_s)}"
            note = {"error": f"⚠ {message.error or 'failed'}", "cancelled": "⏹ cancelled"}.get(message.status)
            widgets.append(
                AnswerMessage(
                    message.content,
                    mode=message.mode or "",
                    citations=message.citations,
                    footer=" · ".join(p for p in (note, footer) if p),
                    status=message.status,
                )
            )
        await chat.mount_all(widgets)
        chat.anchor()
        for message in [m for m in messages if m.role == "assistant" and m.trace_file][-MAX_REPLAYED_TRACES:]:
            await self._replay(work, Path(message.trace_file or ""))
        self.conversation_id = conversation
        self.sub_title = self._title(conversation)
        self.query_one("#question", Input).focus()

    async def _replay(self, work: WorkPane, path: Path) -> None:
        try:
            events = read_trace(path)
        except (OSError, ValueError):
            return  # the trace was deleted or is from an older format: the chat is still there
        start = next((e for e in events if getattr(e, "type", "") == "run_start"), None)
        if start is None:
            return
        view, mounted = work.begin_run(getattr(start, "question", ""), getattr(start, "mode", ""))
        for event in events:
            view.handle(event)
        await mounted

    # -- citations, copy, panes, modes -----------------------------------------------------------------------

    def on_answer_message_citation_opened(self, event: AnswerMessage.CitationOpened) -> None:
        self.push_screen(CitationScreen(event.citation, event.index))

    def action_copy_answer(self) -> None:
        answers = list(self.query(AnswerMessage))
        focused = self.focused
        chosen = next((a for a in answers if focused is not None and a in focused.ancestors_with_self), None)
        if chosen is None:
            chosen = next((a for a in reversed(answers) if a.text.strip()), None)
        if chosen is None:
            self.notify("no answer to copy yet", severity="warning", timeout=2)
            return
        self.copy_to_clipboard(chosen.text)
        self.notify("answer copied to the clipboard", timeout=2)

    def action_toggle_work(self) -> None:
        side = self.query_one("#work-side")
        side.display = not side.display

    def action_scroll_chat(self, direction: int) -> None:
        chat = self.query_one(ChatLog)
        chat.scroll_page_down() if direction > 0 else chat.scroll_page_up()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self._all_bindings()))

    def _all_bindings(self) -> list[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)] + [
            Binding("ctrl+p", "command_palette", "Command palette"),
        ]

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

    # -- settings ---------------------------------------------------------------------------------------------

    def action_settings(self) -> None:
        local = self.hub.local_url if self.hub else None
        self.push_screen(SettingsScreen(self.settings, self.fmt, local), self._apply_roles)

    def _apply_roles(self, choices: list[RoleChoice] | None) -> None:
        if not choices:
            return
        before = {role: self.settings.roles.get(role) for role in ROLES}
        changed = []
        for choice in choices:
            resolved = self.settings.role(choice.role)
            if resolved.model == choice.model and resolved.endpoints == [choice.endpoint]:
                continue
            current = self.settings.roles.get(choice.role) or RoleSettings()
            self.settings.roles[choice.role] = current.model_copy(
                update={"endpoint": choice.endpoint, "model": choice.model}
            )
            changed.append(choice.role)
        try:
            for role in ROLES:
                self.settings.role(role)
        except LodestarError as exc:
            for role, layer in before.items():  # leave the session as it was
                if layer is None:
                    self.settings.roles.pop(role, None)
                else:
                    self.settings.roles[role] = layer
            self.notify(one_line(str(exc)), title="settings", severity="error")
            return
        if changed:
            self._probed = False  # new models: their capabilities are probed before the next non-direct run
            self.notify(f"updated for this session: {', '.join(changed)}", title="models", timeout=3)
        self._update_status()

    # -- palette jobs -----------------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Ingest documents", "Add files or folders to the document store (with progress)", self.action_ingest
        )
        yield SystemCommand(
            "Load knowledge graph", "Merge a triples file (and aliases) into the graph", self.action_load_graph
        )
        yield SystemCommand("New conversation", "Start a fresh conversation (Ctrl+N)", self.action_new_chat)
        yield SystemCommand(
            "Conversation history", "Browse, resume or delete conversations (Ctrl+O)", self.action_history
        )
        yield SystemCommand("Models per role", "Endpoint and model of every role (Ctrl+S)", self.action_settings)
        yield SystemCommand("Copy last answer", "To the clipboard (Ctrl+Y)", self.action_copy_answer)
        yield SystemCommand("Toggle work pane", "Show or hide the agent's work (F3)", self.action_toggle_work)
        yield SystemCommand("Keys", "Every key binding (F1)", self.action_help)
        for mode in MODE_NAMES:
            yield SystemCommand(f"Mode: {mode}", MODES[mode].summary, partial(self.set_mode, mode))

    def action_ingest(self) -> None:
        default = jobs.find_example("examples/corpus")
        self.push_screen(
            IngestPrompt(default, self.settings.rag.collection),
            lambda request: self._start_job("ingest", jobs.ingest, request),
        )

    def action_load_graph(self) -> None:
        self.push_screen(
            GraphPrompt(
                jobs.find_example("examples/graph/navigation.tsv"), jobs.find_example("examples/graph/aliases.tsv")
            ),
            lambda request: self._start_job("graph load", jobs.load_graph, request),
        )

    def _start_job(self, label: str, function: Callable[..., list[str]], request: Any) -> None:
        if request is None:
            return
        if self.job_worker is not None and self.job_worker.is_running:
            self.notify("another job is running; wait for it to finish", severity="warning")
            return
        self.query_one(JobBar).begin(label)
        self.job_worker = self.run_worker(
            partial(self._job_thread, label, function, request),
            name=label,
            group="jobs",
            thread=True,
            exit_on_error=False,
        )

    def _job_thread(self, label: str, function: Callable[..., list[str]], request: Any) -> None:
        """Runs in a worker thread: the work is CPU-bound (embedding) or blocking (file I/O)."""
        bar = self.query_one(JobBar)

        def ui(callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
            with contextlib.suppress(Exception):  # the app may be closing
                self.call_from_thread(callback, *args, **kwargs)

        try:
            lines = function(request, self.settings, lambda event, n: ui(bar.progress, event, n))
        except LodestarError as exc:
            ui(self.notify, one_line(str(exc)), title=f"{label} failed", severity="error", timeout=10)
        except Exception as exc:
            ui(
                self.notify,
                one_line(f"{type(exc).__name__}: {exc}"),
                title=f"{label} failed",
                severity="error",
                timeout=10,
            )
        else:
            ui(self.notify, "\n".join(one_line(line, 160) for line in lines[:4]), title=f"{label} done", timeout=10)
        finally:
            ui(bar.end)


async def run_tui(settings: Settings) -> int:
    """``lodestar chat``: run the app until Ctrl+Q; the hub (and any embedded server) is closed on the way out."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app = LodestarApp(settings)
    try:
        await app.run_async()
    finally:
        await app.shutdown()
    return app.return_code or 0
