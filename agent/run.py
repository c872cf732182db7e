"""One question, one run: pick the mode, record the trace, return a typed result.

Front ends (CLI ``ask``, batch, TUI) all go through :func:`run_question`, so they share the trace, the usage
accounting and the error handling.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from agent.conversation import Turn, recent, standalone_question
from agent.direct import answer_direct
from agent.errors import BadInputError, LodestarError
from agent.hub import LLMHub
from agent.trace import Answer, Citation, Rewrite, RunEnd, RunStart, Trace, Usage

Mode = Literal["auto", "direct", "rag", "kg", "tools"]
MODES: tuple[str, ...] = ("auto", "direct", "rag", "kg", "tools")
ModeHandler = Callable[[str, LLMHub, Trace, Callable[[str], None] | None], Awaitable[Answer]]


async def _direct(question: str, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None, *,
                  history: Sequence[Turn] = ()) -> Answer:
    return await answer_direct(question, hub.llm("summarizer", trace), on_delta, history=history)


# Modes that live in other packages are named by "module:function" and imported on first use, which keeps
# start-up fast and the dependency direction intact (rag/ and kg/ never import this module).
MODE_HANDLERS: dict[str, ModeHandler | str] = {
    "direct": _direct,
    "rag": "rag.mode:answer_rag",
    "kg": "kg.mode:answer_kg",
    "tools": "agent.loop:answer_tools",
    "auto": "agent.loop:answer_auto",
}


def resolve_mode(mode: str) -> ModeHandler:
    if mode not in MODES:
        raise BadInputError(f"unknown mode {mode!r} (modes: {', '.join(MODES)})")
    handler = MODE_HANDLERS[mode]
    if isinstance(handler, str):
        module_name, _, attr = handler.partition(":")
        try:
            handler = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            raise BadInputError(f"mode {mode!r} is not available in this build yet (try --mode direct)") from None
        MODE_HANDLERS[mode] = handler
    return handler


async def _answer(question: str, handler: ModeHandler, hub: LLMHub, trace: Trace,
                  on_delta: Callable[[str], None] | None, turns: list[Turn]) -> Answer:
    """Run the mode; a follow-up is direct mode's chat context, or is made standalone for the other modes."""
    if not turns:
        return await handler(question, hub, trace, on_delta)
    if handler is _direct:
        return await _direct(question, hub, trace, on_delta, history=turns)
    standalone = await standalone_question(question, turns, hub.llm("summarizer", trace))
    trace.emit(Rewrite(question=question, standalone=standalone))
    return await handler(standalone, hub, trace, on_delta)


class RunResult(BaseModel):
    question: str
    answer: str
    mode: str
    citations: list[Citation] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    trace_file: str | None = None
    ok: bool = True
    error: str | None = None
    latency_s: float = 0.0

    def public(self) -> dict[str, object]:
        """The ``ask --json`` object."""
        usage = self.usage
        return {
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "citations": [c.model_dump() for c in self.citations],
            "usage": {
                "llm_calls": usage.llm_calls,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
            "trace_file": self.trace_file,
        }


def validate_question(question: str) -> str:
    cleaned = question.strip()
    if not cleaned:
        raise BadInputError("the question is empty")
    return cleaned


async def run_question(
    question: str,
    mode: str,
    hub: LLMHub,
    *,
    trace_path: Path | None = None,
    on_delta: Callable[[str], None] | None = None,
    trace: Trace | None = None,
    history: Sequence[Turn] = (),
) -> RunResult:
    """Answer ``question`` in ``mode``; errors are recorded in the trace (run_end) and re-raised.

    ``history`` holds the conversation's earlier turns: direct mode reads them as chat context, the other modes
    search with the question rewritten to stand alone. A ``trace`` passed in stays open (its owner closes it,
    perhaps in a thread); one made here is closed here.
    """
    question = validate_question(question)
    handler = resolve_mode(mode)
    owned = trace is None
    trace = trace or Trace(hub.settings.traces_dir, path=trace_path)
    try:
        turns = recent(history)
        trace.emit(RunStart(question=question, mode=mode, roles=hub.describe_roles(), history_turns=len(turns)))
        try:
            answer = await _answer(question, handler, hub, trace, on_delta, turns)
        except LodestarError as exc:
            trace.emit(RunEnd(ok=False, error=str(exc)))
            raise
        except BaseException as exc:  # cancellation and bugs still close the trace honestly
            trace.emit(RunEnd(ok=False, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__))
            raise
        trace.emit(answer)
        end = RunEnd(ok=True)
        trace.emit(end)
        return RunResult(
            question=question,
            answer=answer.text,
            mode=mode,
            citations=answer.citations,
            usage=end.usage,
            trace_file=str(trace.path) if trace.path else None,
            latency_s=end.wall_s,
        )
    finally:
        if owned:
            trace.close()
