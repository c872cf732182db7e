"""One question, one run: pick the mode, record the trace, return a typed result.

Front ends (CLI ``ask``, batch, TUI) all go through :func:`run_question`, so they share the trace, the usage
accounting and the error handling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from agent.core import otel
from agent.core.errors import BadInputError, LodestarError, ModelOutputError, describe
from agent.core.trace import Answer, Citation, Rewrite, RunEnd, RunStart, Trace, Usage
from agent.llm.hub import LLMHub
from agent.run.conversation import Turn, recent, standalone_question
from agent.run.modes import Mode, get_mode


async def _answer(
    question: str, mode: Mode, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None, turns: list[Turn]
) -> Answer:
    """Run the mode; a follow-up is the chat context of a chat-history mode, or is made standalone first."""
    if not turns:
        return await mode.answer(question, hub, trace, on_delta)
    if mode.history == "chat":
        return await mode.answer(question, hub, trace, on_delta, history=turns)
    standalone = await standalone_question(question, turns, hub.llm("summarizer", trace))
    trace.emit(Rewrite(question=question, standalone=standalone))
    return await mode.answer(standalone, hub, trace, on_delta)


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
    """The question stripped; empty or not UTF-8 (bytes the shell passed through as surrogates) is bad input."""
    cleaned = question.strip()
    if not cleaned:
        raise BadInputError("the question is empty")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError as exc:
        raw = cleaned[exc.start].encode("utf-8", "surrogateescape")
        raise BadInputError(
            f"the question is not UTF-8 text (byte 0x{raw.hex()} at character {exc.start + 1}): "
            "check the terminal's encoding (LANG/LC_ALL)"
        ) from None
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
    spec = get_mode(mode)
    owned = trace is None
    trace = trace or Trace(hub.settings.traces_dir, path=trace_path)
    otel.attach(trace, hub.settings.trace)  # spans to an OpenTelemetry collector, when one is configured
    try:
        turns = recent(history)
        trace.emit(RunStart(question=question, mode=mode, roles=hub.describe_roles(), history_turns=len(turns)))
        try:
            answer = await _answer(question, spec, hub, trace, on_delta, turns)
            if not answer.text.strip():  # every mode: a blank answer is a failure, not a success
                raise ModelOutputError(f"the model returned an empty answer ({mode} mode)")
        except LodestarError as exc:
            trace.emit(RunEnd(ok=False, error=str(exc)))
            raise
        except BaseException as exc:  # cancellation and bugs still close the trace honestly
            trace.emit(RunEnd(ok=False, error=describe(exc)))
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
