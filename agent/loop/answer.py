"""How the loop answers ``ask --mode tools`` and ``ask --mode auto``.

``tools``: the general tools (calculator, date and time, units, files) plus the user's ``loop.tools_module``.
``auto``: the same plus ``search_documents`` (MAIN-RAG over the ingested documents) and ``query_graph``
(Think-on-Graph over the loaded graph). Its front half, the evidence router (agent/loop/router.py), looks at the
evidence without an LLM call and picks a route: the planner reads it as a hint, or — on the embedded model, or
with ``[loop] planner = "router"`` — the route is followed alone (one graph walk, one document search, one tool
call and the summarizer, or the summarizer alone).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.core.trace import Answer, RouteEvent, Trace
from agent.llm.hub import LLMHub
from agent.loop.engine import Loop
from agent.loop.parsing import CallRequest
from agent.loop.router import Route, choose_route, router_decides
from tools.builtins import assemble_registry, describe_knowledge

OnDelta = Callable[[str], None] | None


async def answer_tools(question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta) -> Answer:
    registry = await assemble_registry(hub.settings, knowledge=False)
    return await Loop(question, hub, trace, registry).run(on_delta)


async def answer_auto(question: str, hub: LLMHub, trace: Trace, on_delta: OnDelta) -> Answer:
    registry = await assemble_registry(hub.settings, knowledge=True)
    knows, empty = await describe_knowledge(hub.settings, registry)
    for name in empty:  # nothing ingested or loaded: offering the tool would only waste steps
        registry.remove(name)
    route = await choose_route(question, hub.settings, registry)
    alone = router_decides(hub.settings)
    trace.emit(RouteEvent(route=route.route, reason=route.reason, tool=route.tool, alone=alone))
    if alone:
        return await follow(route, question, Loop(question, hub, trace, registry), on_delta)
    return await Loop(question, hub, trace, registry, knows=knows, hint=route.hint()).run(on_delta)


async def follow(route: Route, question: str, loop: Loop, on_delta: OnDelta) -> Answer:
    """The route without the planner: the graph or the documents answer as their own modes do (streamed, with
    their citations); one tool's result is summarized; direct is the summarizer alone."""
    if route.route == "kg":
        from kg.mode import answer_kg

        return await answer_kg(question, loop.hub, loop.trace, on_delta)
    if route.route == "rag":
        from rag.mode import answer_rag

        return await answer_rag(question, loop.hub, loop.trace, on_delta)
    if route.route == "tool" and route.tool:
        await loop.observe_call(CallRequest(kind="call", name=route.tool, arguments=route.arguments), "1")
    return await loop.summarize(on_delta)
