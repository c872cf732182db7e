"""The conversation on screen: ask a question in a mode, stream its answer and work, record it, cancel, resume.

A question runs through :func:`agent.run.question.run_question` in a worker (Esc cancels it, which closes the
HTTP stream); the mode table says whether the hub must be probed first, and the conversation so far goes along as
follow-up context. Every message is kept in the history store before its widget settles, so quitting mid-answer
loses nothing. Errors become notifications with the one-line reason. Benchmarks time the path through ``on_mark``
(``asked``, ``first_token_rendered``, ``first_token_painted``, ``settled``); the product keeps no timing state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.widget import Widget
from textual.widgets import Input, Static

from agent.core.errors import BadInputError, LodestarError, error_line
from agent.run.modes import MODES
from ui.format import Display, one_line
from ui.widgets.chat import AnswerMessage, ChatLog, UserMessage
from ui.widgets.work import WorkPane

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel
    from textual.worker import Worker

    from agent.core.trace import Trace, Usage
    from agent.run.conversation import Turn
    from agent.run.question import RunResult
    from ui.history import HistoryStore, Message
    from ui.session import HubSession
    from ui.widgets.run import RunView

Mark = Callable[[str], None]  # on_mark(name): a benchmark's clock; the product passes none
WELCOME = (
    "Ask a question below. The answer streams here; the agent's work — LLM calls, plans, tool calls, "
    "scored documents, graph steps — appears on the right.\n\n"
    "F2 switches mode · Ctrl+P: ingest documents, load a graph, and more · Ctrl+O history · F1 all keys"
)


def welcome() -> Static:
    return Static(WELCOME, classes="welcome", markup=False)


class ChatController:
    def __init__(
        self,
        app: App[Any],
        session: HubSession,
        history_path: Path,
        fmt: Display,
        on_change: Callable[[], None],
        on_mark: Mark | None = None,
    ) -> None:
        self.app = app
        self.session = session
        self.history_path = history_path
        self._store: HistoryStore | None = None
        self.fmt = fmt
        self._on_change = on_change  # the status bar: answering or not
        self._mark = on_mark if on_mark is not None else (lambda name: None)
        self.conversation_id: int | None = None
        self.worker: Worker[None] | None = None

    @property
    def store(self) -> HistoryStore:
        """The history (``history.sqlite3``), opened when first needed: after the first paint."""
        if self._store is None:
            from ui.history import HistoryStore

            self._store = HistoryStore(self.history_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    @property
    def answering(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def busy(self) -> bool:
        """True (and a notice) while an answer runs: what would replace the conversation waits for it."""
        if self.answering:
            self.app.notify("an answer is running: Esc cancels it first", severity="warning", timeout=3)
        return self.answering

    # -- asking -----------------------------------------------------------------------------------------------

    def submit(self, question: str, mode: str) -> bool:
        """The Enter key: ask, unless an answer is still running (then the question stays in the input)."""
        if self.answering:
            self.app.notify("an answer is still running: Esc cancels it", severity="warning", timeout=3)
            return False
        self.ask(question, mode)
        return True

    def ask(self, question: str, mode: str) -> Worker[None] | None:
        """Show the question, then answer it in a worker; returns the worker (None when the input is rejected).

        The worker starts at once: the HTTP request overlaps with mounting the messages, and the first pieces
        and trace events are buffered until their widgets are ready.
        """
        from agent.run.question import validate_question
        from ui.history import Message

        try:
            question = validate_question(question)
        except BadInputError as exc:
            self.app.notify(str(exc), severity="warning")
            return None
        self._mark("asked")
        chat = self.app.query_one(ChatLog)
        chat.query(".welcome").remove()
        answer = AnswerMessage(mode=mode)
        mounted = chat.mount_all([UserMessage(question), answer])
        chat.anchor()
        run, _ = self.app.query_one(WorkPane).begin_run(question, mode)
        conversation = self._conversation_for(question)
        context = self._turns(conversation)
        self._save(conversation, Message(role="user", content=question, mode=mode))
        self.worker = self.app.run_worker(
            self._answer(question, mode, answer, run, conversation, mounted, context),
            name="answer",
            group="answer",
            exclusive=True,
            exit_on_error=False,
        )
        self._on_change()
        return self.worker

    async def _answer(
        self,
        question: str,
        mode: str,
        answer: AnswerMessage,
        run: RunView,
        conversation: int | None,
        mounted: Awaitable[object],
        context: list[Turn],
    ) -> None:
        from agent.core.trace import RunEnd, Trace, Usage
        from agent.run.question import run_question

        started = time.perf_counter()
        result: RunResult | None = None
        trace: Trace | None = None
        status, error = "error", None
        live = answer.start_stream(on_render=self._first_render_marker(), ready=mounted)
        try:
            hub = await self.session.ready_hub(MODES[mode].needs_probe)
            trace = Trace(self.session.settings.traces_dir)
            trace.add_sink(run.handle)
            trace.add_sink(self._notify_failures)
            result = await run_question(question, mode, hub, trace=trace, on_delta=live.feed, history=context)
            status = "ok"
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except LodestarError as exc:
            error = self.fmt.text(error_line(exc))
            severity: SeverityLevel = "warning" if isinstance(exc, BadInputError) else "error"
            self.app.notify(error, title=f"{mode} mode", timeout=8, severity=severity)
        except Exception as exc:  # a bug: the app goes on, the user is told what broke
            error = self.fmt.text(error_line(exc))
            self.app.notify(error, title=f"{mode} mode", severity="error", timeout=10)
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
            self.worker = None
            self._on_change()

    def _first_render_marker(self) -> Callable[[], None]:
        """The stream's on_render: marks this answer's first token appended, then painted."""
        seen = False

        def on_render() -> None:
            nonlocal seen
            if not seen:
                seen = True
                self._mark("first_token_rendered")
                self.app.call_after_refresh(self._mark, "first_token_painted")

        return on_render

    def _notify_failures(self, event: object) -> None:
        """A failed tool does not end the run (the agent sees the error and goes on), but the user should know."""
        from agent.core.trace import ToolResultEvent

        if isinstance(event, ToolResultEvent) and not event.ok:
            self.app.notify(
                self.fmt.text(event.error or "failed", 200),
                title=f"tool {event.name} failed",
                severity="warning",
                timeout=6,
            )

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
        from ui.history import Message

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
        self._mark("settled")

    def cancel(self) -> bool:
        if self.worker is not None and self.worker.is_running:
            self.worker.cancel()
            return True
        return False

    async def drain(self, timeout: float = 3.0) -> None:
        """Quitting mid-answer: cancel it and wait (a little) until what was said is in the history."""
        if self.cancel():
            deadline = time.monotonic() + timeout
            while self.worker is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

    def copyable(self, focused: object) -> str | None:
        """The text of the focused answer, else of the last non-empty one."""
        answers = list(self.app.query(AnswerMessage))
        chosen = next((a for a in answers if isinstance(focused, Widget) and a in focused.ancestors_with_self), None)
        chosen = chosen or next((a for a in reversed(answers) if a.text.strip()), None)
        return chosen.text if chosen else None

    # -- conversations ----------------------------------------------------------------------------------------

    def _conversation_for(self, question: str) -> int | None:
        if self.conversation_id is None:
            try:
                self.conversation_id = self.store.new_conversation(question)
            except Exception as exc:
                self.app.notify(f"history not saved: {one_line(str(exc))}", severity="warning")
                return None
            self.app.sub_title = self._title(self.conversation_id)
        return self.conversation_id

    def _turns(self, conversation: int | None) -> list[Turn]:
        """The conversation so far, as context for its next question (none when the history is unavailable)."""
        from ui.history import turns

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
            self.app.notify(f"history not saved: {one_line(str(exc))}", severity="warning")

    async def new(self) -> None:
        await self._clear()
        await self.app.query_one(ChatLog).mount(welcome())
        self.app.query_one("#question", Input).focus()

    async def _clear(self) -> None:
        self.conversation_id = None
        self.app.sub_title = ""
        await self.app.query_one(ChatLog).remove_children()
        await self.app.query_one(WorkPane).clear()

    async def history_closed(self, choice: int | None, new: int) -> None:
        """The history screen's answer: ``new``, a conversation to resume, or None (perhaps after a delete)."""
        if choice == new:
            await self.new()
        elif choice is not None:
            await self.resume(choice)
        elif self.conversation_id is not None and self.store.get(self.conversation_id) is None:
            await self.new()  # the open conversation was deleted

    async def resume(self, conversation: int) -> None:
        """Show a stored conversation (and the work of its last answers); new questions continue it."""
        await self._clear()
        chat = self.app.query_one(ChatLog)
        work = self.app.query_one(WorkPane)
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
        for message in [m for m in messages if m.role == "assistant" and m.trace_file][-WorkPane.MAX_RUNS :]:
            await self._replay(work, Path(message.trace_file or ""))
        self.conversation_id = conversation
        self.app.sub_title = self._title(conversation)
        self.app.query_one("#question", Input).focus()

    async def _replay(self, work: WorkPane, path: Path) -> None:
        from agent.core.trace import read_trace

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
