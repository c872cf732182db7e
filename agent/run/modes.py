"""The mode table: every way Lodestar can answer, one record each.

A record says how the mode answers, what data it needs before a model server is worth starting, whether it reads
the endpoint's probed capabilities, and how it uses the conversation so far. The CLI, the TUI and batch read this
table; nothing else branches on mode names. Each mode's code is imported inside its handler, so start-up stays fast
and a reader can follow a question from here into ``rag/``, ``kg/`` or ``agent/loop/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agent.core.errors import BadInputError

if TYPE_CHECKING:
    from agent.core.config import Settings
    from agent.core.trace import Answer, Trace
    from agent.llm.hub import LLMHub
    from agent.run.conversation import Turn

OnDelta = Callable[[str], None] | None


# (question, hub, trace, on_delta) -> Answer; a chat-history mode also takes the recent turns as ``history=``.
ModeHandler = Callable[..., Awaitable["Answer"]]


@dataclass(frozen=True)
class Mode:
    name: str
    summary: str  # one line for menus and help
    answer: ModeHandler
    preflight: Callable[[Settings], None]  # raises BadInputError in a second when the mode has nothing to read
    needs_probe: bool  # reads capabilities (logprobs, JSON modes, tool calls) to choose its fallbacks
    history: Literal["chat", "standalone"]  # follow-ups as chat context, or rewritten to stand alone first


# -- handlers: each imports its mode's code when first used -------------------------------------------------


async def _answer_direct(
    question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta, /, history: Sequence[Turn] = ()
) -> Answer:
    from agent.run.direct import answer_direct

    return await answer_direct(question, hub.llm("summarizer", trace), on_delta, history=history)


async def _answer_rag(question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta, /) -> Answer:
    from rag.mode import answer_rag

    return await answer_rag(question, hub, trace, on_delta)


async def _answer_kg(question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta, /) -> Answer:
    from kg.mode import answer_kg

    return await answer_kg(question, hub, trace, on_delta)


async def _answer_tools(question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta, /) -> Answer:
    from agent.loop.answer import answer_tools

    return await answer_tools(question, hub, trace, on_delta)


async def _answer_auto(question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta, /) -> Answer:
    from agent.loop.answer import answer_auto

    return await answer_auto(question, hub, trace, on_delta)


# -- preflight checks ---------------------------------------------------------------------------------------


def _nothing_needed(settings: Settings) -> None:
    return None


def _needs_documents(settings: Settings) -> None:
    from rag.retrieve import open_for_search

    open_for_search(settings)


def _needs_graph(settings: Settings) -> None:
    from kg.stores.open import open_store

    open_store(settings.home, settings.kg)


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode("auto", "the planner picks documents, graph or tools", _answer_auto, _nothing_needed, True, "standalone"),
        Mode("direct", "the model alone, no retrieval", _answer_direct, _nothing_needed, False, "chat"),
        Mode("rag", "documents, filtered by MAIN-RAG", _answer_rag, _needs_documents, True, "standalone"),
        Mode("kg", "the knowledge graph, Think-on-Graph", _answer_kg, _needs_graph, True, "standalone"),
        Mode(
            "tools", "the planner–caller–summarizer loop with tools", _answer_tools, _nothing_needed, True, "standalone"
        ),
    )
}
MODE_NAMES: tuple[str, ...] = tuple(MODES)
DEFAULT_MODE = "auto"


def get_mode(name: str) -> Mode:
    """The record for ``name``; an unknown name is bad input that lists the choices."""
    try:
        return MODES[name]
    except KeyError:
        raise BadInputError(f"unknown mode {name!r} (modes: {', '.join(MODE_NAMES)})") from None


def needs_probe(names: Iterable[str]) -> bool:
    """Whether any of these modes reads the endpoint's capabilities (the probe is cached per endpoint and model)."""
    return any(MODES[name].needs_probe for name in names if name in MODES)
