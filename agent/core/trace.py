"""Typed trace events and the run recorder that writes them.

The trace is the product's explanation of itself: one JSONL file per run under ``LODESTAR_HOME/traces``, and the
same events fed live to the TUI and to batch summaries. Events form a pydantic discriminated union on ``type``;
later features add fields, never rename these.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO

from pydantic import BaseModel, Field, TypeAdapter

from agent.core.errors import EnvironmentFault, os_error_message
from agent.core.secrets import redact


class _Event(BaseModel):
    ts: float = Field(default_factory=time.time)
    run_id: str = ""


class Usage(BaseModel):
    """A run's totals over its LLM calls (one response's token counts are :class:`agent.llm.wire.TokenUsage`)."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    cache_hits: int = 0


class Citation(BaseModel):
    """Where a piece of the answer came from: a document chunk, a graph triple or a tool result."""

    id: str
    kind: Literal["chunk", "triple", "tool"]
    source: str = ""
    text: str = ""
    quote: str = Field("", description="the sentence of the text that best matches the question, when chosen")


class RunStart(_Event):
    type: Literal["run_start"] = "run_start"
    question: str
    mode: str
    roles: dict[str, str] = Field(default_factory=dict, description="role -> model @ endpoint")
    history_turns: int = Field(0, description="earlier turns of the conversation given as context")


class Rewrite(_Event):
    """A follow-up question made standalone before the mode searches with it."""

    type: Literal["rewrite"] = "rewrite"
    question: str
    standalone: str


class LlmCall(_Event):
    type: Literal["llm_call"] = "llm_call"
    role: str
    model: str
    endpoint: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0
    cached: bool = False
    stream: bool = False
    ok: bool = True
    error: str | None = None


class Plan(_Event):
    type: Literal["plan"] = "plan"
    thought: str
    next: str


class RouteEvent(_Event):
    """Auto mode's evidence router chose how to answer (agent/loop/router.py)."""

    type: Literal["route"] = "route"
    route: Literal["kg", "rag", "tool", "direct"]
    reason: str
    tool: str | None = None
    alone: bool = Field(False, description="the router decided alone; else the route was a hint to the planner")


class Repair(_Event):
    """A model's output was unusable and Lodestar did something about it (so a second call is never unexplained).

    ``problem`` says what was wrong (invalid tool-call JSON, no ``Next:`` marker, a reply off the schema, a format
    the endpoint refused); ``action`` what was done: "retried" (asked again with the problem fed back), "repaired"
    (read the reply another way) or "fell back to …" (used a default or a weaker format).
    """

    type: Literal["repair"] = "repair"
    role: str
    problem: str
    action: str
    attempt: int = 1


class ToolCallEvent(_Event):
    type: Literal["tool_call"] = "tool_call"
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    step: str | None = None


class ToolResultEvent(_Event):
    type: Literal["tool_result"] = "tool_result"
    name: str
    ok: bool
    output: Any = None
    error: str | None = None
    step: str | None = None
    latency_s: float = 0.0
    skipped: bool = Field(False, description="not run: the previous step's call again (its result is in hand)")


class ScoredDoc(BaseModel):
    id: str
    score: float
    source: str = ""
    title: str = ""


class DocsScored(_Event):
    type: Literal["docs_scored"] = "docs_scored"
    docs: list[ScoredDoc]
    threshold: float
    n: float
    kept: list[str]
    scoring: str


class KgRelation(BaseModel):
    entity: str
    relation: str
    score: float


class KgStep(_Event):
    type: Literal["kg_step"] = "kg_step"
    depth: int
    frontier: list[str]
    relations: list[KgRelation] = Field(default_factory=list)
    candidates: int = 0
    kept: list[list[list[str]]] = Field(default_factory=list, description="paths as lists of [h, r, t] triples")
    sufficient: bool = False


class AnswerDelta(_Event):
    """A streamed piece of the answer: shown live, not written to the trace file."""

    type: Literal["answer_delta"] = "answer_delta"
    text: str


class Answer(_Event):
    type: Literal["answer"] = "answer"
    text: str
    citations: list[Citation] = Field(default_factory=list)


class RunEnd(_Event):
    type: Literal["run_end"] = "run_end"
    ok: bool
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    wall_s: float = 0.0


Event = Annotated[
    RunStart
    | Rewrite
    | LlmCall
    | Plan
    | RouteEvent
    | Repair
    | ToolCallEvent
    | ToolResultEvent
    | DocsScored
    | KgStep
    | AnswerDelta
    | Answer
    | RunEnd,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_EPHEMERAL = {"answer_delta"}

Sink = Callable[[_Event], None]


def read_trace(path: Path) -> list[_Event]:
    """Parse a trace file back into typed events (for tests, the TUI's history and batch reports)."""
    with path.open(encoding="utf-8") as fh:
        return [EVENT_ADAPTER.validate_json(line) for line in fh if line.strip()]


class Trace:
    """Records one run: assigns the run id, keeps usage totals, writes JSONL and fans events out to sinks."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        path: Path | None = None,
        run_id: str | None = None,
        fresh: bool = False,
        live: bool = True,
    ):
        """``fresh`` truncates an existing file at ``path`` (a re-run of the same question) instead of appending.

        ``live`` writes each event as it happens (``tail -f`` works, a crash keeps what was written); otherwise
        events are buffered and written on ``close``, one write instead of one per event (for batches, whose
        unfinished questions are re-run from scratch anyway).
        """
        self.run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
        self.usage = Usage()
        self.events: list[_Event] = []
        self._sinks: list[Sink] = []
        self._started = time.perf_counter()
        self.path: Path | None = path or (directory / f"{self.run_id}.jsonl" if directory else None)
        self._file: TextIO | None = None
        self._created = False  # made by this run: removed again on close if no event reached it
        self._wrote = False
        if self.path is not None:
            try:
                self._created = not self.path.exists()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("w" if fresh else "a", encoding="utf-8", buffering=1 if live else 1 << 16)
            except OSError as exc:
                raise EnvironmentFault(os_error_message(exc, self.path, "cannot write the trace")) from None

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def emit(self, event: _Event) -> None:
        event.run_id = self.run_id
        if isinstance(event, LlmCall):
            self.usage.llm_calls += 1
            self.usage.prompt_tokens += event.prompt_tokens
            self.usage.completion_tokens += event.completion_tokens
            self.usage.retries += event.retries
            self.usage.cache_hits += int(event.cached)
        if isinstance(event, RunEnd):
            event.usage = self.usage.model_copy()
            event.wall_s = round(time.perf_counter() - self._started, 4)
        if event.type not in _EPHEMERAL:  # type: ignore[attr-defined]  # every concrete event declares its type Literal
            self.events.append(event)
            if self._file is not None:
                line = redact(event.model_dump_json()) + "\n"
                try:
                    self._file.write(line)
                except OSError as exc:
                    raise EnvironmentFault(os_error_message(exc, self.path, "cannot write the trace")) from None
                self._wrote = True
        for sink in self._sinks:
            sink(event)

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as exc:  # a buffered trace meets the full disk here
            raise EnvironmentFault(os_error_message(exc, self.path, "cannot write the trace")) from None
        finally:
            if self._created and not self._wrote and self.path is not None:
                self.path.unlink(missing_ok=True)  # an empty file would claim a run that never started

    def __enter__(self) -> Trace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
