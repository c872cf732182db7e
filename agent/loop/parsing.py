"""Parsing the planner's and the caller's own outputs (never observations: those are data, docs/algorithms.md §8).

Planner: a rationale ending in ``Next: caller | summarizer | give up`` (α-UMi also says "conclusion"). Like the
reference, everything after the first marker is discarded. Unlike the reference, which tests ``give up`` first,
then ``conclusion``, else caller, we take the *first* marker in the text: later text is the model rambling on.

Caller: α-UMi's ``Action:`` / ``Action Input:`` text (the last occurrence of each, as in the reference; a missing
``Action Input`` means ``{}``), or native tool calls; ``chain`` is a tool chain (tools/chain.py). Errors raise
:class:`CallParseError`, whose message is fed back to the caller.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Literal

from pydantic import BaseModel

from agent.core.errors import ModelOutputError
from agent.llm import wire
from tools.chain import Chain, ChainError, ChainStep, describe_chain, parse_chain
from tools.program import extract_program, render_program
from tools.registry import ToolRegistry, unknown_tool_message

NextStep = Literal["caller", "summarizer", "give up"]

_NEXT = re.compile(
    r"next\s*(?:step)?\s*(?:[:：]|-|is)\s*[*_`'\"]*\s*"
    r"(give[\s_\-]*up|caller|call|tool|conclusion|conclude|summarizer|summary|summari[sz]e|final answer|answer|finish)",
    re.IGNORECASE,
)
_NEXT_WORDS: dict[str, NextStep] = {
    "caller": "caller",
    "call": "caller",
    "tool": "caller",
    "conclusion": "summarizer",
    "conclude": "summarizer",
    "summarizer": "summarizer",
    "summary": "summarizer",
    "summarize": "summarizer",
    "summarise": "summarizer",
    "final answer": "summarizer",
    "answer": "summarizer",
    "finish": "summarizer",
}
CHAIN_NAME = "chain"
PROGRAM_NAME = "program"


class PlanParseError(ModelOutputError):
    """The planner's reply has no usable ``Next:`` decision."""


class CallParseError(ModelOutputError):
    """The caller's reply is not a usable call; ``name`` is set when a tool name was read (for the trace)."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class PlanDecision(BaseModel):
    thought: str
    next: NextStep


class CallRequest(BaseModel):
    """One parsed call: a single tool call, a chain, or a program (ATC, run in the sandbox)."""

    kind: Literal["call", "chain", "program"]
    name: str = ""
    arguments: dict[str, Any] = {}
    chain: Chain | None = None
    code: str = ""

    def render(self) -> str:
        """The call in α-UMi's text format, as it appears in the history."""
        if self.kind == "program":
            return render_program(self.code)
        if self.kind == "chain" and self.chain is not None:
            return f"Action: {CHAIN_NAME}\nAction Input: {describe_chain(self.chain)}"
        return f"Action: {self.name}\nAction Input: {json.dumps(self.arguments, ensure_ascii=False)}"


def _normalize_next(word: str) -> NextStep:
    folded = " ".join(word.lower().replace("_", " ").replace("-", " ").split())
    if folded.startswith("give"):
        return "give up"
    return _NEXT_WORDS.get(folded, "caller")


def parse_plan(text: str) -> PlanDecision:
    """The planner's decision; PlanParseError when the reply is empty or has no ``Next:`` marker."""
    stripped = text.strip()
    if stripped.startswith(("{", "```")):  # the optional JSON form {"thought": …, "next": …}
        try:
            data = _first_json(stripped)
        except CallParseError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("next"), str):
            return PlanDecision(thought=str(data.get("thought", "")).strip(), next=_normalize_next(data["next"]))
    if stripped.strip(".,:; ") == "":
        raise PlanParseError("the reply was empty")
    match = _NEXT.search(stripped)
    if match is None:
        raise PlanParseError("it does not end with `Next: caller`, `Next: summarizer` or `Next: give up`")
    thought = stripped[: match.start()].rstrip(" \t\n*_#>`").strip()
    return PlanDecision(thought=thought, next=_normalize_next(match.group(1)))


def _first_json(text: str) -> Any:
    """The first JSON object or list in ``text``; single-quoted Python literals are accepted too."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise CallParseError("Action Input is not a JSON object")
    start = min(starts)
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
        return value
    except ValueError as exc:
        json_error = exc
    closer = "}" if text[start] == "{" else "]"
    end = text.rfind(closer)
    while end > start:  # Python-literal dicts ({'a': 1}, True/None) are common in small models' output
        try:
            value = ast.literal_eval(text[start : end + 1])
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            end = text.rfind(closer, start, end)
            continue
        if isinstance(value, (dict, list)):
            return value
        break
    raise CallParseError(f"Action Input is not valid JSON: {json_error}")


def _resolve_name(registry: ToolRegistry, raw: str) -> str:
    found = registry.resolve(raw)
    if found is None:
        raise CallParseError(unknown_tool_message(raw, registry.names), name=raw.strip()[:60] or None)
    return found.name


def _build(registry: ToolRegistry, name: str, arguments: Any, *, chains: bool, max_chain_steps: int) -> CallRequest:
    cleaned = name.strip().strip("`'\"*").strip()
    if cleaned.lower() in (CHAIN_NAME, "functions.chain"):
        if not chains:
            raise CallParseError("tool chains are turned off: call one tool", name=CHAIN_NAME)
        try:
            chain = parse_chain(
                arguments,
                registry.names,
                max_steps=max_chain_steps,
                resolve_name=lambda n: found.name if (found := registry.resolve(n)) else None,
            )
        except ChainError as exc:
            raise CallParseError(str(exc), name=CHAIN_NAME) from None
        return CallRequest(kind="chain", name=CHAIN_NAME, chain=chain)
    tool_name = _resolve_name(registry, cleaned)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise CallParseError(f"the arguments of {tool_name} must be a JSON object", name=tool_name)
    return CallRequest(kind="call", name=tool_name, arguments=arguments)


def parse_text_call(text: str, registry: ToolRegistry, *, chains: bool = True, max_chain_steps: int = 8) -> CallRequest:
    """α-UMi's ``Action:`` / ``Action Input:`` format (or a bare ``{"name", "arguments"}`` JSON object)."""
    stripped = text.strip()
    if "Action:" not in stripped and "action:" not in stripped.lower():
        try:
            data = _first_json(stripped)
        except CallParseError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("name") or data.get("tool"), str):
            arguments = data.get("arguments", data.get("args", data.get("parameters", {})))
            if isinstance(arguments, str):
                arguments = _first_json(arguments) if arguments.strip() else {}
            return _build(
                registry,
                str(data.get("name") or data.get("tool")),
                arguments,
                chains=chains,
                max_chain_steps=max_chain_steps,
            )
        if stripped.startswith(("{", "```")):  # the JSON format, cut short or malformed
            raise CallParseError('the reply is not a complete JSON object {"tool": …, "arguments": {…}}')
        raise CallParseError("no `Action:` line was found")
    lowered = stripped.lower()
    action_at = lowered.rindex("action:")
    input_at = lowered.rfind("action input:")
    name_part = stripped[action_at + len("action:") :]
    if input_at > action_at:
        name_part = stripped[action_at + len("action:") : input_at]
    name = name_part.strip().splitlines()[0] if name_part.strip() else ""
    if not name:
        raise CallParseError("the `Action:` line names no tool")
    if input_at >= 0:
        raw_input = stripped[input_at + len("action input:") :].strip()
        arguments = _first_json(raw_input) if raw_input and raw_input not in ("None", "null") else {}
    else:
        arguments = {}
    return _build(registry, name, arguments, chains=chains, max_chain_steps=max_chain_steps)


def parse_native_calls(
    calls: list[wire.ToolCall], registry: ToolRegistry, *, chains: bool = True, max_chain_steps: int = 8
) -> CallRequest:
    """Native tool calls; several calls in one reply run as a chain of independent steps."""
    parsed: list[tuple[str, Any]] = []
    for call in calls:
        name = call.function.name
        raw = call.function.arguments or "{}"
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise CallParseError(f"the arguments of {name} are not valid JSON: {exc}", name=name or None) from None
        parsed.append((name, arguments))
    if len(parsed) == 1:
        name, arguments = parsed[0]
        if name.strip().lower() == CHAIN_NAME and isinstance(arguments, dict):
            arguments = arguments.get("steps", arguments)
        return _build(registry, name, arguments, chains=chains, max_chain_steps=max_chain_steps)
    if any(name.strip().lower() == CHAIN_NAME for name, _ in parsed):
        raise CallParseError("call either one chain or several tools, not both")
    steps = []
    for i, (name, arguments) in enumerate(parsed, 1):
        if not isinstance(arguments, dict):
            raise CallParseError(f"the arguments of {name} must be a JSON object", name=name or None)
        steps.append(ChainStep(id=f"c{i}", tool=_resolve_name(registry, name), args=arguments))
    if len(steps) > max_chain_steps:
        raise CallParseError(f"{len(steps)} calls at once; the limit is {max_chain_steps}")
    return CallRequest(kind="chain", name=CHAIN_NAME, chain=Chain(steps=steps))


def parse_program(text: str) -> CallRequest | None:
    """A program in the reply's content: a ```python block (ATC's format), or, from a caller held to JSON, the object
    ``{"tool": "program", "arguments": {"code": "…"}}``. None when the reply holds no program."""
    code = extract_program(text)
    if code is None and text.strip().startswith("{"):
        try:
            data = _first_json(text.strip())
        except CallParseError:
            data = None
        if isinstance(data, dict) and str(data.get("tool") or data.get("name")).lower() == PROGRAM_NAME:
            arguments = data.get("arguments")
            raw = arguments.get("code") if isinstance(arguments, dict) else None
            code = extract_program(raw) or raw if isinstance(raw, str) and raw.strip() else None
    return CallRequest(kind="program", name=PROGRAM_NAME, code=code) if code else None
