"""Structured output: the one way Lodestar asks a model for JSON in a schema, whoever asks.

One ladder, best first, decided from the endpoint's capabilities here and nowhere else: ``json_schema`` (OpenAI,
vLLM) → ``json_object`` carrying the schema (llama.cpp's server turns it into a grammar) → plain ``json_object`` →
no ``response_format`` (the prompt asks, the reply is checked and repaired). A level the endpoint refuses (see
:attr:`EndpointError.refused`; llama-cpp-python answers an unknown ``response_format`` with a 500) is skipped from
then on for that handle, and the trace says so with a ``repair`` event.

Two users: :meth:`LLM.complete_json` (validates against a pydantic model and feeds the error back) and the α-UMi
loop's planner and caller (which parse the reply themselves and feed their own errors back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from agent.core.errors import EndpointError, ModelOutputError, one_line, validation_line
from agent.core.trace import Repair, Trace
from agent.llm.capabilities import Capabilities

T = TypeVar("T", bound=BaseModel)
C = TypeVar("C", covariant=True)

SCHEMA_INSTRUCTION = "Reply with one JSON object only, no prose, matching this JSON schema:\n"
REPAIR_REQUEST = "That was not valid JSON for the schema: {error}. Reply again with the corrected JSON object only."

_JSON_BLOCK = re.compile(r"\{.*\}|\[.*\]", re.DOTALL)


class Chat(Protocol[C]):
    """What the negotiator needs of a role handle (:class:`agent.llm.client.LLM` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def trace(self) -> Trace | None: ...

    @property
    def refused_formats(self) -> dict[str, int]: ...

    async def complete(self, messages: Sequence[Any], **options: Any) -> C: ...


class _Text(Protocol):
    text: str


def ladder(caps: Capabilities, schema: dict[str, Any], name: str) -> list[dict[str, Any] | None]:
    """The ``response_format`` values to try for ``schema``, best first; None (no format) always comes last."""
    options: list[dict[str, Any] | None] = []
    if caps.json_schema:
        options.append({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}})
    if caps.json_object_schema:
        options.append({"type": "json_object", "schema": schema})
    if caps.json_object:
        options.append({"type": "json_object"})
    return [*options, None]


def _label(response_format: dict[str, Any] | None) -> str:
    if response_format is None:
        return "no response_format"
    kind = response_format["type"]
    return f"{kind} with the schema" if kind == "json_object" and "schema" in response_format else kind


def _refuses_format(exc: EndpointError) -> bool:
    # llama-cpp-python's 500 for a response_format it does not know counts as refused in EndpointError itself
    return exc.refused


def emit_repair(trace: Trace | None, role: str, problem: str, action: str, attempt: int = 1) -> None:
    """Record that a model-output problem was repaired, retried or worked around (no-op without a trace)."""
    if trace is not None:
        trace.emit(Repair(role=role, problem=one_line(problem, 300), action=action, attempt=attempt))


async def complete_structured(
    llm: Chat[C],
    messages: Sequence[Any],
    schema: dict[str, Any],
    name: str,
    *,
    instruct_at: int | None = None,
    **options: Any,
) -> C:
    """One completion constrained to ``schema`` as far as the endpoint allows, walking down the ladder on refusals.

    ``instruct_at``: where to put the schema into the messages when the format does not enforce it, for callers
    whose own prompt does not describe the JSON they want (None: the prompt already does).
    """
    while True:
        formats = ladder(llm.capabilities, schema, name)
        level = min(llm.refused_formats.get(name, 0), len(formats) - 1)
        response_format = formats[level]
        sent = list(messages)
        if instruct_at is not None and (response_format is None or response_format["type"] != "json_schema"):
            instruction = {"role": "system", "content": SCHEMA_INSTRUCTION + json.dumps(schema, separators=(",", ":"))}
            sent.insert(instruct_at, instruction)
        try:
            return await llm.complete(sent, response_format=response_format, **options)
        except EndpointError as exc:
            if response_format is None or not _refuses_format(exc):
                raise
            llm.refused_formats[name] = level + 1
            emit_repair(
                llm.trace,
                llm.name,
                f"the endpoint refused response_format {_label(response_format)} (HTTP {exc.status})",
                f"fell back to {_label(formats[level + 1])}",
                level + 1,
            )


def extract_json(text: str) -> Any:
    """Parse the first JSON object in ``text``, tolerating code fences and chatter around it."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`")
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else stripped
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    match = _JSON_BLOCK.search(stripped)
    if match is None:
        raise ValueError("no JSON object found")
    return json.loads(match.group(0))


def _problem(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        return validation_line(exc, show=3, inputs=True)
    return one_line(str(exc), 300)


async def complete_json(
    llm: Chat[_Text],
    messages: Sequence[Any],
    schema: type[T],
    *,
    name: str | None = None,
    repairs: int = 2,
    **options: Any,
) -> T:
    """A reply validated against ``schema``; on failure the problem is fed back for ``repairs`` more tries."""
    json_schema = schema.model_json_schema()
    history: list[Any] = list(messages)
    problem = ""
    for attempt in range(1, repairs + 2):
        completion = await complete_structured(
            llm, history, json_schema, name or schema.__name__, instruct_at=len(messages), **options
        )
        try:
            return schema.model_validate(extract_json(completion.text))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            problem = _problem(exc)
        if attempt <= repairs:
            emit_repair(
                llm.trace, llm.name, f"the reply is not valid JSON for {schema.__name__}: {problem}", "retried", attempt
            )
            history += [
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": REPAIR_REQUEST.format(error=problem)},
            ]
    raise ModelOutputError(f"the {llm.name} model gave no valid JSON after {repairs + 1} tries: {problem}")
