"""How the loop answers ``ask --mode tools`` and ``ask --mode auto``.

``tools``: the general tools (calculator, date and time, units, files) plus the user's ``loop.tools_module``.
``auto``: the same plus ``search_documents`` (MAIN-RAG over the ingested documents) and ``query_graph``
(Think-on-Graph over the loaded graph); the planner picks among them from the tool list, which says what each
knows.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.core.trace import Answer, Trace
from agent.llm.hub import LLMHub
from agent.loop.engine import Loop
from tools.builtins import assemble_registry, describe_knowledge


async def answer_tools(question: str, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None) -> Answer:
    registry = await assemble_registry(hub.settings, knowledge=False)
    return await Loop(question, hub, trace, registry).run(on_delta)


async def answer_auto(question: str, hub: LLMHub, trace: Trace, on_delta: Callable[[str], None] | None) -> Answer:
    registry = await assemble_registry(hub.settings, knowledge=True)
    knows, empty = await describe_knowledge(hub.settings, registry)
    for name in empty:  # nothing ingested or loaded: offering the tool would only waste steps
        registry.remove(name)
    return await Loop(question, hub, trace, registry, knows=knows).run(on_delta)
