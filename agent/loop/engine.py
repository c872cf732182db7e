"""The α-UMi planner–caller–summarizer loop (docs/algorithms.md §3), training-free, over any chat endpoint.

Per step: the planner (role "planner") writes a thought ending in ``Next: caller | summarizer | give up``; on
caller, the caller (role "caller") turns the thought into one tool call or a tool chain; the tool result goes into
the shared history as an observation (data, never parsed for markers); repeat. The summarizer (role
"summarizer") streams the final answer with the citations gathered from the tool results. Each role can be a
different endpoint and model: that is configuration only.

Choices where the reference is silent or does not apply:
- Planner output without a ``Next:`` marker is retried with the parse error fed back (``loop.parse_retries``);
  if it is still missing, we default to the caller as the reference does (it appends " Next: caller.").
- Caller output that cannot be parsed (no ``Action:``, invalid JSON, unknown tool) is retried the same way; if
  it stays unusable, the failure is the step's observation, so the planner can change course.
- Invalid arguments, tool exceptions and timeouts are observations (α-UMi's environment returns errors too).
- A failed chain is repaired by the caller with the error attributed to its step and tool (docs/algorithms.md
  §4.2), at most ``loop.chain_repairs`` times; within those repairs, identical calls that already succeeded are
  not run again.
- With ``loop.chains = "program"`` the caller may answer with a Python program instead (ATC §4.1); it runs in the
  sandbox (tools/sandbox/), each of its tool calls goes through :meth:`Loop.invoke` like any other, and a failed
  program is repaired the same way as a chain, with the error attributed to a tool call (tools/program.py).
- "give up" cannot restart a search here (no DFSDT): the summarizer answers honestly, saying what failed.
- When ``loop.max_steps`` is spent, the summarizer answers with what was gathered and says what is missing.
- Guards for every model (small ones get stuck): the previous step's tool call is never run again with the same
  arguments (the planner is told its result is in hand; the trace records it as skipped); that, and a plan
  repeating the previous plan word for word, count against ``loop.max_repeats``; past it, the summarizer answers
  from what was gathered. Planner and caller replies are capped (``loop.planner_max_tokens``,
  ``loop.caller_max_tokens``): a thought or a tool call never needs the role's full answer budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from agent.core.config import LoopSettings
from agent.core.errors import EndpointError, ModelOutputError
from agent.core.trace import Answer, Plan, ToolCallEvent, ToolResultEvent, Trace
from agent.core.untrusted import data_block
from agent.llm.client import LLM, Completion
from agent.llm.hub import LLMHub
from agent.llm.structured import emit_repair
from agent.loop import prompts
from agent.loop.history import LoopState, neutralize
from agent.loop.parsing import (
    CallParseError,
    CallRequest,
    PlanDecision,
    PlanParseError,
    parse_native_calls,
    parse_plan,
    parse_program,
    parse_text_call,
)
from tools import program as programs
from tools import prompts as tool_prompts
from tools.chain import Chain, ChainResult, ChainStep, run_chain
from tools.registry import ToolContext, ToolRegistry, ToolResult
from tools.retrieval import ToolRetriever
from tools.sandbox.pool import SandboxPool
from tools.sandbox.runner import ProgramResult, Sandbox

CHARS_PER_TOKEN = 3  # a cautious estimate for fitting the history into a context window
TEXT_STOPS = ["\nObservation:", "\nobservation:", "\nplanner:", "\nuser:"]
Delta = Callable[[str], None] | None


def caller_format(settings: LoopSettings, caller: LLM, *, embedded: bool = False) -> str:
    """native | text | json: as configured. "auto" is native when the endpoint does tool calls, else α-UMi's text;
    except with the embedded 135M model, which follows neither (measured: bench/tools_quality.py) but does produce
    usable calls under a JSON-schema grammar."""
    if settings.tool_call_format != "auto":
        return settings.tool_call_format
    if embedded:
        return "json"
    return "native" if caller.capabilities.tool_calls else "text"


class Loop:
    """One run of the loop over one question (state lives here; the module functions stay stateless)."""

    def __init__(
        self,
        question: str,
        hub: LLMHub,
        trace: Trace,
        registry: ToolRegistry,
        *,
        knows: str = "",
        hint: str = "",
        sandbox: Sandbox | None = None,
    ) -> None:
        """``sandbox``: a started sandbox the caller owns (and closes), for programs; else each run starts its own.
        ``hint``: the evidence router's advice (auto mode), shown to the planner."""
        self.question = question
        self.hint = hint  # the evidence router's advice (auto mode), shown to the planner
        self.hub = hub
        self.trace = trace
        self.registry = registry
        self.settings = hub.settings.loop
        self.knows = knows
        self.planner = hub.llm("planner", trace)
        self.caller = hub.llm("caller", trace)
        self.summarizer = hub.llm("summarizer", trace)
        self.format = caller_format(self.settings, self.caller, embedded=hub.settings.uses_local)
        self.state = LoopState(question)
        self._done_calls: dict[str, ToolResult] = {}
        self._last_call: str | None = None  # the previous step's call, as a key: never run twice in a row
        self._last_plan: str | None = None
        self.repeats = 0
        self.sandbox: Sandbox | None = sandbox
        self._own_sandbox = sandbox is None
        self._sandbox_start: asyncio.Task[Sandbox] | None = None
        self.offered = registry  # what the planner and caller are shown: all tools, or those retrieved (CRAFT)
        self.offer_k = self.settings.max_tools_offered
        self._retriever: ToolRetriever | None = None
        self._last_thought = ""

    # -- the loop ----------------------------------------------------------------------------------------------

    async def run(self, on_delta: Delta = None) -> Answer:
        if self.settings.programs and self.sandbox is None:  # a warm one from the pool, or one starting meanwhile
            self._sandbox_start = asyncio.create_task(SandboxPool.of(self.hub).take())
        try:
            return await self._run(on_delta)
        finally:
            await self.close_sandbox()

    async def close_sandbox(self) -> None:
        """Give the run's sandbox back (the pool closes it and starts the next question's) or close a late start."""
        if self._sandbox_start is not None:  # never needed: the start may still be under way
            start, self._sandbox_start = self._sandbox_start, None
            start.cancel()
            with contextlib.suppress(BaseException):  # its error, if any, matters to no one now
                self.sandbox = await start
        if self.sandbox is not None and self._own_sandbox:
            sandbox, self.sandbox = self.sandbox, None
            await SandboxPool.of(self.hub).give_back(sandbox)

    async def _run(self, on_delta: Delta) -> Answer:
        steps = self.settings.max_steps
        for step in range(1, steps + 1):
            decision = await self.plan(steps_left=steps - step + 1)
            self.trace.emit(Plan(thought=decision.thought, next=decision.next))
            self.state.add_plan(decision.thought, decision.next)
            self._last_thought = decision.thought
            if decision.next == "summarizer":
                return await self.summarize(on_delta)
            if decision.next == "give up":
                note = prompts.GIVE_UP_NOTE.format(reason=decision.thought or "(no reason given)")
                return await self.summarize(on_delta, note=note)
            repeated_plan = bool(decision.thought) and decision.thought == self._last_plan
            self._last_plan = decision.thought
            if repeated_plan and self._repeat_budget_spent():
                return await self.stop_repeating(on_delta, "the same plan again")
            if not await self.call_and_observe(step, decision.thought) and self._repeat_budget_spent():
                return await self.stop_repeating(on_delta, "the same tool call again")
        self.trace.emit(
            Plan(
                thought=f"The step budget ({steps}) is spent: the summarizer answers with what was gathered.",
                next="summarizer",
            )
        )
        return await self.summarize(on_delta, note=prompts.BUDGET_NOTE.format(steps=steps))

    def _repeat_budget_spent(self) -> bool:
        self.repeats += 1
        return self.repeats > self.settings.max_repeats

    async def stop_repeating(self, on_delta: Delta, what: str) -> Answer:
        """The repetition budget is spent: answer honestly from what was gathered."""
        self.trace.emit(
            Plan(
                thought=f"The planner repeated itself ({what}) past loop.max_repeats = {self.settings.max_repeats}: "
                "the summarizer answers with what was gathered.",
                next="summarizer",
            )
        )
        return await self.summarize(on_delta, note=prompts.REPEAT_NOTE.format(what=what))

    def reply_tokens(self, llm: LLM) -> int:
        """max_tokens of one reply: the role's, capped for the planner and the caller."""
        cap = {"planner": self.settings.planner_max_tokens, "caller": self.settings.caller_max_tokens}.get(llm.name)
        return min(llm.role.max_tokens, cap) if cap else llm.role.max_tokens

    def history(self, llm: LLM, fixed_chars: int) -> str:
        """The shared transcript, fitted to ``llm``'s context window when the endpoint told us its size."""
        window = llm.capabilities.context_length
        if not window:
            return self.state.render()
        budget = (window - self.reply_tokens(llm) - 64) * CHARS_PER_TOKEN - fixed_chars
        return self.state.render(max(1000, budget))

    # -- planner -----------------------------------------------------------------------------------------------

    async def offer(self, plan: str = "") -> None:
        """Past ``loop.max_tools_offered`` tools, offer only those retrieved for the question and ``plan``
        (tools/retrieval.py); a plan that asks for "more tools" doubles how many, for the rest of the run."""
        if len(self.registry) <= self.settings.max_tools_offered:
            return
        if self._retriever is None:
            model = self.hub.settings.rag.embedding_model
            self._retriever = await asyncio.to_thread(ToolRetriever.for_registry, self.registry, model)
        if prompts.MORE_TOOLS.search(plan):
            self.offer_k = min(len(self.registry), self.offer_k * 2)
        chosen = await asyncio.to_thread(self._retriever.top, self.question, self.offer_k, plan)
        self.offered = ToolRegistry(chosen)

    def tool_docs(self) -> str:
        docs = self.offered.docs()
        hidden = len(self.registry) - len(self.offered)
        return docs + ("\n" + prompts.MORE_TOOLS_NOTE.format(hidden=hidden) if hidden > 0 else "")

    def tool_names(self) -> str:
        names = self.offered.names
        return ", ".join([*names, "chain"] if self.settings.declarative_chains else names)

    async def plan(self, *, steps_left: int) -> PlanDecision:
        knows = f"{prompts.KNOWS_HEADER}{data_block('knowledge', neutralize(self.knows))}\n\n" if self.knows else ""
        if self.hint:
            knows += f"{prompts.HINT_HEADER}{neutralize(self.hint)}\n\n"
        await self.offer(self._last_thought)
        system = prompts.PLANNER_SYSTEM.format(tool_docs=self.tool_docs())
        if self.settings.plan_format == "json":
            system += "\n" + prompts.PLAN_JSON_FORMAT
        history = self.history(self.planner, len(system) + len(knows) + 200)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": prompts.PLANNER_USER.format(knows=knows, history=history, steps_left=steps_left),
            },
        ]
        last = ""
        tries = self.settings.parse_retries + 1
        max_tokens = self.reply_tokens(self.planner)
        for attempt in range(1, tries + 1):
            if self.settings.plan_format == "json":
                completion = await self.planner.complete_structured(
                    messages, prompts.PLAN_SCHEMA, "plan", max_tokens=max_tokens
                )
            else:
                completion = await self.planner.complete(messages, max_tokens=max_tokens)
            try:
                return parse_plan(completion.text)
            except PlanParseError as exc:
                last = completion.text.strip()[:1000]
                # α-UMi's default, at the end: a reply without a marker goes to the caller, the reply being the thought
                action = "retried" if attempt < tries else "fell back to Next: caller"
                emit_repair(
                    self.trace, self.planner.name, f"the plan has no usable Next: marker: {exc}", action, attempt
                )
                messages += [
                    {"role": "assistant", "content": completion.text or "(empty)"},
                    {"role": "user", "content": prompts.PLAN_PARSE_ERROR.format(error=exc)},
                ]
        return PlanDecision(thought=last, next="caller")

    # -- caller ------------------------------------------------------------------------------------------------

    def caller_messages(self, thought: str) -> list[dict[str, Any]]:
        if self.format == "native":
            call_format = tool_prompts.NATIVE_CALL_FORMAT if self.settings.declarative_chains else ""
            if self.settings.programs:
                call_format = self.program_format()
            system = prompts.CALLER_SYSTEM_NATIVE.format(call_format=call_format)
        else:
            if self.format == "json":
                call_format = tool_prompts.JSON_CALL_FORMAT.format(tool_names=self.tool_names())
                chain_format = tool_prompts.JSON_CHAIN_FORMAT
            else:
                call_format = tool_prompts.TEXT_CALL_FORMAT.format(tool_names=self.tool_names())
                chain_format = tool_prompts.CHAIN_FORMAT
            if self.settings.declarative_chains:
                call_format += "\n" + chain_format.format()
            if self.settings.programs:
                call_format += "\n" + (
                    tool_prompts.JSON_PROGRAM_FORMAT.format() if self.format == "json" else self.program_format()
                )
            system = prompts.CALLER_SYSTEM_TEXT.format(tool_docs=self.tool_docs(), call_format=call_format)
        specs = len(json.dumps(self.tool_specs())) if self.format == "native" else 0
        fixed = len(system) + len(thought) + specs + 200
        user = prompts.CALLER_USER.format(
            history=self.history(self.caller, fixed), thought=thought or "(no thought given)"
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def program_format(self) -> str:
        example = programs.function_name(self.registry.names[0]) if len(self.registry) else "tool_name"
        return tool_prompts.PROGRAM_FORMAT.format(example=example)

    def tool_specs(self) -> list[dict[str, Any]]:
        specs = self.offered.specs()
        if self.settings.declarative_chains:
            specs.append(tool_prompts.chain_spec(self.offered.names))
        return specs

    async def _complete_caller(self, messages: list[dict[str, Any]]) -> Completion:
        max_tokens = self.reply_tokens(self.caller)
        if self.format == "native":
            return await self.caller.complete(messages, tools=self.tool_specs(), max_tokens=max_tokens)
        if self.format == "json":
            schema = tool_prompts.call_schema(
                [(t.name, t.parameters) for t in self.offered],
                chains=self.settings.declarative_chains,
                program=self.settings.programs,
            )
            return await self.caller.complete_structured(messages, schema, "tool_call", max_tokens=max_tokens)
        return await self.caller.complete(messages, stop=TEXT_STOPS, max_tokens=max_tokens)

    def _parse_call(self, completion: Completion) -> CallRequest:
        if self.settings.programs and (program := parse_program(completion.text)) is not None:
            return program  # in the reply's content, whatever the tool-call format
        chains, max_steps = self.settings.declarative_chains, self.settings.chain_max_steps
        if completion.tool_calls:
            return parse_native_calls(completion.tool_calls, self.registry, chains=chains, max_chain_steps=max_steps)
        return parse_text_call(completion.text, self.registry, chains=chains, max_chain_steps=max_steps)

    async def ask_caller(
        self, messages: list[dict[str, Any]], label: str | None = None
    ) -> tuple[CallRequest | None, str]:
        """One usable call, retrying with the parse error fed back; (None, last error) when none came."""
        error = ""
        tries = self.settings.parse_retries + 1
        for attempt in range(1, tries + 1):
            try:
                completion = await self._complete_caller(messages)
            except EndpointError as exc:
                if not (self.format == "native" and exc.refused):
                    raise
                self.format = "text"  # the endpoint refused `tools`: use the text format from now on
                emit_repair(
                    self.trace,
                    self.caller.name,
                    f"the endpoint refused native tool calls (HTTP {exc.status})",
                    "fell back to the text call format",
                )
                messages[0] = self.caller_messages("")[0]
                completion = await self._complete_caller(messages)
            try:
                return self._parse_call(completion), ""
            except CallParseError as exc:
                error = str(exc)
                if exc.name:  # a call was attempted (unknown tool, bad arguments): show it in the trace
                    self.trace.emit(ToolCallEvent(name=exc.name, arguments={}, step=label))
                    self.trace.emit(ToolResultEvent(name=exc.name, ok=False, error=error, step=label))
                action = "retried" if attempt < tries else "fell back: the error is the step's observation"
                emit_repair(self.trace, self.caller.name, f"unusable tool call: {error}", action, attempt)
                messages += [
                    _echo(completion),
                    {"role": "user", "content": tool_prompts.CALL_PARSE_ERROR.format(error=error)},
                ]
        return None, error

    # -- tools -------------------------------------------------------------------------------------------------

    async def invoke(self, name: str, arguments: dict[str, Any], label: str) -> ToolResult:
        """One tool call with its trace events; in a chain repair, identical calls that already succeeded are
        reused instead of run again (ATC re-runs the whole program; side effects should not repeat)."""
        key = json.dumps([name, arguments], sort_keys=True, default=str)
        self.trace.emit(ToolCallEvent(name=name, arguments=arguments, step=label))
        result = self._done_calls.get(key)
        if result is None:
            context = ToolContext(settings=self.hub.settings, hub=self.hub, trace=self.trace, step=label)
            result = await self.registry.call(name, arguments, context, timeout_s=self.settings.tool_timeout_s)
            if result.ok:
                self._done_calls[key] = result
        self.trace.emit(
            ToolResultEvent(
                name=result.name,
                ok=result.ok,
                output=result.output if result.ok else None,
                error=result.error,
                step=label,
                latency_s=result.latency_s,
            )
        )
        return result

    async def call_and_observe(self, step: int, thought: str) -> bool:
        """One caller turn and its observation; False when the call repeated the previous step's and was not run."""
        self._done_calls.clear()  # reuse results only within one step's chain repairs, never across steps
        await self.offer(thought)
        messages = self.caller_messages(thought)
        request, error = await self.ask_caller(messages, str(step))
        if request is None:
            self._last_call = None
            self.state.add_call("(no usable call)")
            self.state.add_observation("ERROR: " + prompts.FAILED_CALL_NOTE.format(error=error))
            return True
        key = _call_key(request)
        if key == self._last_call:
            self.skip_repeat(request, str(step))
            return False
        self._last_call = key
        if request.kind == "call":
            await self.observe_call(request, str(step))
            return True
        if request.kind == "program":
            await self.run_program_with_repairs(step, request, messages)
            return True
        await self.run_chain_with_repairs(step, request, messages)
        return True

    async def observe_call(self, request: CallRequest, label: str) -> ToolResult:
        """Run one call and record it and its observation in the history (also the router's one-tool route)."""
        result = await self.invoke(request.name, request.arguments, label)
        self.state.add_call(request.render())
        self.state.add_observation(result.observation(self.settings.observation_chars), [(label, result)])
        return result

    def skip_repeat(self, request: CallRequest, label: str) -> None:
        """The previous step's call again: not run; the trace marks it skipped, the planner hears why."""
        note = prompts.REPEATED_CALL_NOTE.format(call=request.name)
        self.trace.emit(ToolCallEvent(name=request.name, arguments=request.arguments, step=label))
        self.trace.emit(ToolResultEvent(name=request.name, ok=False, skipped=True, error=note, step=label))
        self.state.add_call(request.render())
        self.state.add_observation(note)

    async def with_repairs(
        self,
        step: int,
        request: CallRequest,
        messages: list[dict[str, Any]],
        attempt: Callable[[CallRequest, str], Awaitable[tuple[bool, str]]],
        convert: Callable[[CallRequest], CallRequest],
    ) -> tuple[CallRequest, int, str]:
        """Run ``attempt``; on failure, feed its attributed error back and run the caller's fix (ATC §4.2), at most
        ``loop.chain_repairs`` times. Returns the last request, the number of repairs and the last label prefix."""
        repairs = 0
        while True:
            prefix = f"{step}." if repairs == 0 else f"{step}.r{repairs}."
            ok, feedback = await attempt(request, prefix)
            if ok or repairs >= self.settings.chain_repairs:
                return request, repairs, prefix
            messages += [{"role": "assistant", "content": request.render()}, {"role": "user", "content": feedback}]
            repaired, _ = await self.ask_caller(messages, f"{step}.r{repairs + 1}")
            if repaired is None:  # no usable fix: the failed attempt's results stand
                return request, repairs, prefix
            request, repairs = convert(repaired), repairs + 1

    async def run_chain_with_repairs(self, step: int, request: CallRequest, messages: list[dict[str, Any]]) -> None:
        """Run the chain; on failure, feed the attributed error back and run the caller's fix."""
        outcome: list[ChainResult] = []

        async def attempt(request: CallRequest, prefix: str) -> tuple[bool, str]:
            assert request.chain is not None

            async def call_step(step_id: str, tool: str, arguments: dict[str, Any]) -> ToolResult:
                return await self.invoke(tool, arguments, prefix + step_id)

            outcome.append(await run_chain(request.chain, call_step, concurrency=self.settings.chain_concurrency))
            return outcome[-1].ok, outcome[-1].feedback()

        request, repairs, prefix = await self.with_repairs(step, request, messages, attempt, _as_chain)
        result = outcome[-1]
        self.state.add_call(request.render())
        failure = f"\n{result.feedback()}" if not result.ok else ""
        text = _repaired_note("chain", repairs) + result.observation(self.settings.observation_chars) + failure
        self.state.add_observation(text, _labelled(result, prefix))

    async def run_program_with_repairs(self, step: int, request: CallRequest, messages: list[dict[str, Any]]) -> None:
        """Run the program in the sandbox; on failure, attribute the error to a tool call and ask for a fix."""
        outcome: list[tuple[ProgramResult, list[tuple[str, ToolResult]]]] = []

        async def attempt(request: CallRequest, prefix: str) -> tuple[bool, str]:
            numbers = itertools.count(1)

            async def call(name: str, arguments: dict[str, Any]) -> ToolResult:
                return await self.invoke(name, arguments, f"{prefix}p{next(numbers)}")

            result, results = await programs.run_program(await self.ready_sandbox(), request.code, self.registry, call)
            outcome.append((result, [(f"{prefix}p{i}", r) for i, r in enumerate(results, 1)]))
            return result.ok, programs.feedback(result, request.code, self.registry.names)

        request, repairs, _ = await self.with_repairs(step, request, messages, attempt, _as_program)
        result, labelled = outcome[-1]
        self.state.add_call(request.render())
        text = _repaired_note("program", repairs) + programs.observation(result, self.settings.observation_chars)
        self.state.add_observation(text, labelled)

    async def ready_sandbox(self) -> Sandbox:
        if self.sandbox is None:
            start, self._sandbox_start = self._sandbox_start, None
            # a start-up failure (no deno, no Pyodide) is raised here, as one clear error
            self.sandbox = await (start or SandboxPool.of(self.hub).take())
        return self.sandbox

    # -- summarizer --------------------------------------------------------------------------------------------

    async def summarize(self, on_delta: Delta, *, note: str = "") -> Answer:
        sources = self.state.sources()
        fixed = len(prompts.SUMMARIZER_SYSTEM) + len(sources) + len(note) + len(self.question) + 200
        user = prompts.SUMMARIZER_USER.format(
            history=self.history(self.summarizer, fixed),
            sources=f"{prompts.SOURCES_HEADER}{sources}\n\n" if sources else "",
            note=f"{note}\n" if note else "",
            question=self.question,
        )
        messages = [{"role": "system", "content": prompts.SUMMARIZER_SYSTEM}, {"role": "user", "content": user}]
        text = await self.summarizer.respond(messages, on_delta)
        text = text.strip()
        if text.lower().startswith("conclusion:"):
            text = text[len("conclusion:") :].strip()
        if not text:  # the note is an instruction to the summarizer, never an answer to show
            why = f" ({note.strip().splitlines()[0]})" if note else ""
            raise ModelOutputError(f"the summarizer returned an empty answer{why}")
        return Answer(text=text, citations=list(self.state.citations))


def _echo(completion: Completion) -> dict[str, Any]:
    """The caller's unusable reply, as an assistant turn in text form (no tool-role messages needed)."""
    text = completion.text
    if completion.tool_calls:
        text = "\n".join(
            f"Action: {c.function.name}\nAction Input: {c.function.arguments}" for c in completion.tool_calls
        )
    return {"role": "assistant", "content": text or "(empty)"}


def _call_key(request: CallRequest) -> str:
    """What makes two calls the same: the tool and its arguments (a chain: its rendered program)."""
    if request.kind == "call":
        return json.dumps([request.name, request.arguments], sort_keys=True, default=str)
    return request.render()


def _as_chain(request: CallRequest) -> CallRequest:
    if request.kind == "chain":
        return request
    step = ChainStep(id="s1", tool=request.name, args=request.arguments)
    return CallRequest(kind="chain", name="chain", chain=Chain(steps=[step]))


def _repaired_note(what: str, repairs: int) -> str:
    return f"(the {what} was repaired {repairs} time{'s' if repairs != 1 else ''})\n" if repairs else ""


def _as_program(request: CallRequest) -> CallRequest:
    """A repair answered with one plain call: run it as a one-line program that prints its result."""
    if request.kind == "program":
        return request
    if request.kind == "chain" and request.chain is not None:
        lines = [f"print({programs.function_name(s.tool)}(**{s.args!r}))" for s in request.chain.steps]
    else:
        lines = [f"print({programs.function_name(request.name)}(**{request.arguments!r}))"]
    return CallRequest(kind="program", name="program", code="\n".join(lines))


def _labelled(result: ChainResult, prefix: str) -> list[tuple[str, ToolResult]]:
    return [(prefix + s.id, s.result) for s in result.steps if s.result is not None]
