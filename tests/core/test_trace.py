"""Trace: typed events round-trip through JSONL, usage adds up, deltas stay ephemeral, secrets never land."""

from __future__ import annotations

from pathlib import Path

from agent.core.secrets import register_secret
from agent.core.trace import (
    Answer,
    AnswerDelta,
    Citation,
    DocsScored,
    KgStep,
    LlmCall,
    Plan,
    RunEnd,
    RunStart,
    ScoredDoc,
    ToolCallEvent,
    ToolResultEvent,
    Trace,
    read_trace,
)


def test_events_round_trip_and_usage_is_summed(tmp_path: Path) -> None:
    seen: list[str] = []
    with Trace(tmp_path) as trace:
        trace.add_sink(lambda e: seen.append(e.type))
        trace.emit(RunStart(question="q", mode="direct"))
        trace.emit(LlmCall(role="planner", model="m", prompt_tokens=10, completion_tokens=3, retries=1))
        trace.emit(LlmCall(role="judge", model="m", prompt_tokens=5, completion_tokens=1, cached=True))
        trace.emit(Plan(thought="look it up", next="caller"))
        trace.emit(ToolCallEvent(name="calculator", arguments={"expression": "1+1"}))
        trace.emit(ToolResultEvent(name="calculator", ok=True, output="2"))
        trace.emit(
            DocsScored(docs=[ScoredDoc(id="c1", score=1.5)], threshold=0.2, n=0, kept=["c1"], scoring="logprobs")
        )
        trace.emit(KgStep(depth=1, frontier=["A"], kept=[[["A", "r", "B"]]]))
        trace.emit(AnswerDelta(text="par"))
        trace.emit(Answer(text="partial", citations=[Citation(id="c1", kind="chunk")]))
        trace.emit(RunEnd(ok=True))
    events = read_trace(trace.path)
    assert [e.type for e in events] == [
        "run_start",
        "llm_call",
        "llm_call",
        "plan",
        "tool_call",
        "tool_result",
        "docs_scored",
        "kg_step",
        "answer",
        "run_end",
    ]
    assert "answer_delta" in seen  # live sinks see the stream; the file does not
    end = events[-1]
    assert isinstance(end, RunEnd)
    assert (end.usage.llm_calls, end.usage.prompt_tokens, end.usage.completion_tokens) == (2, 15, 4)
    assert (end.usage.retries, end.usage.cache_hits) == (1, 1)
    assert all(e.run_id == trace.run_id for e in events)


def test_secrets_are_redacted_in_the_file(tmp_path: Path) -> None:
    register_secret("hunter2-very-secret")
    with Trace(path=tmp_path / "t.jsonl") as trace:
        trace.emit(RunEnd(ok=False, error="HTTP 401: bad key hunter2-very-secret (Bearer abc.def)"))
    text = (tmp_path / "t.jsonl").read_text()
    assert "hunter2" not in text and "abc.def" not in text and "***" in text
