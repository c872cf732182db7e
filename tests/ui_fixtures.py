"""Helpers for the TUI tests: a "showcase" mode that emits every kind of trace event, and Pilot waiting helpers.

The showcase mode stands in for rag/kg/tools in UI tests: it emits a plan, tool calls (one failing), a MAIN-RAG
table and two Think-on-Graph steps, streams its answer from the (fake) summarizer and cites a chunk, a triple and
a tool result — so the UI is tested against every event type without depending on the algorithms' behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

from agent.core.trace import (
    Answer,
    Citation,
    DocsScored,
    KgRelation,
    KgStep,
    Plan,
    ScoredDoc,
    ToolCallEvent,
    ToolResultEvent,
    Trace,
)
from agent.llm.hub import LLMHub

CHUNK_TEXT = (
    "H4 is the marine chronometer John Harrison completed in 1759. On the 1761 voyage to Jamaica it lost "
    "only 5.1 seconds, well within the Board of Longitude's requirement."
)
CITATIONS = [
    Citation(id="harrison-h4.md#0", kind="chunk", source="harrison-h4.md", text=CHUNK_TEXT),
    Citation(id="t:H4|made_by|John Harrison", kind="triple", source="graph", text="H4 made_by John Harrison"),
    Citation(id="s1", kind="tool", source="search_documents", text='{"hits": 3, "best": "harrison-h4.md"}'),
]


async def showcase_mode(question: str, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None) -> Answer:
    trace.emit(
        Plan(thought="The question names a chronometer: look it up in the documents and the graph.", next="caller")
    )
    trace.emit(ToolCallEvent(name="search_documents", arguments={"query": "H4 chronometer", "k": 3}, step="s1"))
    trace.emit(
        ToolResultEvent(
            name="search_documents", ok=True, output={"hits": 3, "best": "harrison-h4.md"}, step="s1", latency_s=0.012
        )
    )
    trace.emit(ToolCallEvent(name="calculator", arguments={"expression": "1759 - 1735 / 0"}, step="s2"))
    trace.emit(ToolResultEvent(name="calculator", ok=False, error="division by zero", step="s2", latency_s=0.001))
    trace.emit(
        DocsScored(
            docs=[
                ScoredDoc(id="c1", score=2.125, source="harrison-h4.md", title="Harrison's H4"),
                ScoredDoc(id="c2", score=-0.5, source="astrolabe.md", title="The astrolabe"),
                ScoredDoc(id="c3", score=0.875, source="john-harrison.md", title="John Harrison"),
            ],
            threshold=0.833,
            n=0.0,
            kept=["c1", "c3"],
            scoring="logprobs",
        )
    )
    trace.emit(
        KgStep(
            depth=1,
            frontier=["H4"],
            candidates=3,
            sufficient=False,
            relations=[
                KgRelation(entity="H4", relation="made_by", score=0.9),
                KgRelation(entity="H4", relation="tested_on", score=0.4),
            ],
            kept=[[["H4", "made_by", "John Harrison"]], [["H4", "tested_on", "Voyage to Jamaica"]]],
        )
    )
    trace.emit(
        KgStep(
            depth=2,
            frontier=["John Harrison"],
            candidates=2,
            sufficient=True,
            relations=[KgRelation(entity="John Harrison", relation="born_in", score=0.7)],
            kept=[[["H4", "made_by", "John Harrison"], ["John Harrison", "born_in", "Foulby"]]],
        )
    )
    llm = hub.llm("summarizer", trace)
    async with llm.stream([{"role": "user", "content": question}]) as stream:
        async for piece in stream:
            if on_delta is not None:
                on_delta(piece)
    text = stream.completion.text if stream.completion else ""
    return Answer(text=text, citations=CITATIONS)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15.0, step: float = 0.02) -> None:
    """Let the app run until ``condition()`` holds; fail the test with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {getattr(condition, '__name__', condition)}")
        await pilot.pause(step)


async def wait_settled(pilot: Pilot, timeout: float = 15.0) -> None:
    """Until the running answer (if any) has finished and been written to the history."""
    app = pilot.app
    await wait_for(pilot, lambda: getattr(app, "answer_worker", None) is None, timeout)
    await pilot.pause()
