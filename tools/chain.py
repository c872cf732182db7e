"""Tool chains (Chain of Tools / ATC, adapted): a declarative plan of tool calls run as a DAG.

The caller may answer with a chain instead of one call: a JSON list of steps ``{"id", "tool", "args"}`` whose
arguments reference earlier results — ``"$s1"`` (the whole value), ``"$s1.field"``, ``"${s1.items[0].name}"``
(inside a longer string the value is interpolated as text). Steps whose inputs are ready run concurrently
(bounded); a failed step fails only the steps that depend on it, and the error is attributed to that step and its
tool so that the caller can repair the chain (ATC's attributable reflection, docs/algorithms.md §4.2).

ATC itself has the model write Python run in a sandbox: that is ``loop.chains = "program"`` (tools/program.py,
tools/sandbox/). Declarative chains stay the default: they are data, and need no sandbox at all.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent.core.errors import ModelOutputError, validation_line
from tools.registry import ToolResult, render_value, truncate

STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
_PATH = r"(?:\.[A-Za-z0-9_]+|\[-?\d+\])*"
_REFERENCE = re.compile(
    r"\$\{(?P<bid>[A-Za-z_]\w*)(?P<bpath>" + _PATH + r")\}|\$(?P<id>[A-Za-z_]\w*)(?P<path>" + _PATH + ")"
)
_PATH_PART = re.compile(r"\.([A-Za-z0-9_]+)|\[(-?\d+)\]")

CallStep = Callable[[str, str, dict[str, Any]], Awaitable[ToolResult]]


class ChainError(ModelOutputError):
    """The chain itself is unusable (malformed, unknown tool, bad reference, cycle): fed back to the caller."""


class ChainStep(BaseModel):
    id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Chain(BaseModel):
    steps: list[ChainStep]


class StepOutcome(BaseModel):
    id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    skipped: bool = False
    output: Any = None
    error: str | None = None
    latency_s: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    result: ToolResult | None = None


class ChainResult(BaseModel):
    steps: list[StepOutcome]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed(self) -> StepOutcome | None:
        """The first step that failed by itself (not merely skipped): the one the error is attributed to."""
        return next((s for s in self.steps if not s.ok and not s.skipped), None)

    def observation(self, limit: int) -> str:
        """Each step's output on its own line, the budget shared so that a long first step cannot hide the rest."""
        share = max(80, limit // max(1, len(self.steps)))
        lines = []
        for step in self.steps:
            if step.ok:
                body = truncate(render_value(step.output), share)
            else:
                body = f"ERROR: {step.error}"
            lines.append(f"{step.id} ({step.tool}): {body}")
        return "\n".join(lines)

    def feedback(self) -> str:
        """ATC-style repair prompt: the error, the step and tool it came from, and a request for a fixed chain."""
        failed = self.failed
        if failed is None:
            return ""
        done = [s.id for s in self.steps if s.ok]
        kept = f" Steps {', '.join(done)} succeeded." if done else ""
        return (
            f"The chain failed. The error was raised by step {failed.id!r}, which calls tool {failed.tool!r}: "
            f"{failed.error}.{kept} Please fix the step (tool choice, argument names, values or references) and "
            "give the corrected chain."
        )


# -- parsing and checking ------------------------------------------------------------------------------------------


def references(value: Any) -> set[str]:
    """Every step id that ``value`` (nested args) refers to, by either syntax."""
    found: set[str] = set()
    if isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            found.add(match.group("bid") or match.group("id"))
    elif isinstance(value, dict):
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def parse_chain(
    data: Any,
    tool_names: Iterable[str],
    *,
    max_steps: int = 12,
    resolve_name: Callable[[str], str | None] | None = None,
) -> Chain:
    """Validate a chain: a list of steps or ``{"steps": [...]}``; unique ids, known tools, acyclic references.

    ``$name`` is a reference only when ``name`` is a step id of this chain ("$100" or "$USD" stay text); a
    ``${…}`` reference to an unknown step is an error.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ChainError(f"the chain is not valid JSON: {exc}") from None
    if isinstance(data, dict) and "steps" in data:
        data = data["steps"]
    if not isinstance(data, list) or not data:
        raise ChainError('a chain is a non-empty JSON list of steps {"id": …, "tool": …, "args": {…}}')
    if len(data) > max_steps:
        raise ChainError(f"the chain has {len(data)} steps; the limit is {max_steps}")
    for i, raw in enumerate(data):  # accept "arguments"/"name" spellings from models trained on other formats
        if isinstance(raw, dict):
            if "args" not in raw and "arguments" in raw:
                raw["args"] = raw.pop("arguments")
            if "tool" not in raw and "name" in raw:
                raw["tool"] = raw.pop("name")
            raw.setdefault("id", f"s{i + 1}")
    try:
        chain = Chain.model_validate({"steps": data})
    except ValidationError as exc:
        raise ChainError(f"invalid chain at {validation_line(exc)}") from None
    known = list(tool_names)
    ids: list[str] = []
    for step in chain.steps:
        if not STEP_ID.match(step.id):
            raise ChainError(f"step id {step.id!r}: use a short name like s1 (letters, digits, _)")
        if step.id in ids:
            raise ChainError(f"two steps have the id {step.id!r}")
        ids.append(step.id)
        canonical = resolve_name(step.tool) if resolve_name else (step.tool if step.tool in known else None)
        if canonical is None:
            raise ChainError(f"step {step.id!r}: unknown tool {step.tool!r}; the tools are: {', '.join(known)}")
        step.tool = canonical
    for step in chain.steps:
        for match in _iter_braced(step.args):
            if match not in ids:
                raise ChainError(f"step {step.id!r}: ${{{match}…}} refers to no step (steps: {', '.join(ids)})")
        if step.id in dependencies(step, ids):
            raise ChainError(f"step {step.id!r} refers to its own result")
    _check_acyclic(chain, ids)
    return chain


def _iter_braced(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            if match.group("bid"):
                yield match.group("bid")
    elif isinstance(value, dict):
        for item in value.values():
            yield from _iter_braced(item)
    elif isinstance(value, list):
        for item in value:
            yield from _iter_braced(item)


def dependencies(step: ChainStep, ids: Iterable[str]) -> set[str]:
    return references(step.args) & set(ids)


def _check_acyclic(chain: Chain, ids: list[str]) -> None:
    deps = {s.id: dependencies(s, ids) for s in chain.steps}
    done: set[str] = set()
    while len(done) < len(ids):
        ready = [i for i in ids if i not in done and deps[i] <= done]
        if not ready:
            stuck = sorted(set(ids) - done)
            raise ChainError(f"steps {', '.join(stuck)} refer to each other in a cycle")
        done.update(ready)


# -- references ---------------------------------------------------------------------------------------------------


def _walk(value: Any, path: str, ref: str) -> Any:
    for match in _PATH_PART.finditer(path):
        key, index = match.group(1), match.group(2)
        if index is not None or (key is not None and key.lstrip("-").isdigit() and isinstance(value, list)):
            position = int(index if index is not None else key)
            if not isinstance(value, list):
                raise ChainError(f"{ref}: [{position}] needs a list, but the value is {type(value).__name__}")
            if not -len(value) <= position < len(value):
                raise ChainError(f"{ref}: index {position} is out of range (the list has {len(value)} items)")
            value = value[position]
        else:
            if not isinstance(value, dict):
                raise ChainError(f"{ref}: .{key} needs an object, but the value is {type(value).__name__}")
            if key not in value:
                keys = ", ".join(list(value)[:12])
                raise ChainError(f"{ref}: no field {key!r} (fields: {keys})")
            value = value[key]
    return value


def resolve(value: Any, outputs: dict[str, Any]) -> Any:
    """Substitute references in ``value`` with results. A string that is exactly one reference becomes the
    referenced value itself (typed); references inside longer strings are interpolated as text."""
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value

    def lookup(match: re.Match[str]) -> Any:
        step_id = match.group("bid") or match.group("id")
        path = match.group("bpath") if match.group("bid") else match.group("path")
        return _walk(outputs[step_id], path or "", match.group(0))

    matches = [m for m in _REFERENCE.finditer(value) if (m.group("bid") or m.group("id")) in outputs]
    if len(matches) == 1 and matches[0].span() == (0, len(value)):
        return lookup(matches[0])

    def substitute(match: re.Match[str]) -> str:
        if (match.group("bid") or match.group("id")) not in outputs:
            return match.group(0)
        return render_value(lookup(match))

    return _REFERENCE.sub(substitute, value)


# -- execution -----------------------------------------------------------------------------------------------------


async def run_chain(chain: Chain, call: CallStep, *, concurrency: int = 4) -> ChainResult:
    """Run the steps as a DAG: each starts when the steps it refers to are done; at most ``concurrency`` at once.

    ``call(step_id, tool, args)`` performs one validated tool call (the loop's wrapper adds trace events).
    """
    ids = [s.id for s in chain.steps]
    deps = {s.id: dependencies(s, ids) for s in chain.steps}
    done = {i: asyncio.Event() for i in ids}
    outcomes: dict[str, StepOutcome] = {}
    outputs: dict[str, Any] = {}
    gate = asyncio.Semaphore(max(1, concurrency))

    async def run_step(step: ChainStep) -> None:
        try:
            for dep in deps[step.id]:
                await done[dep].wait()
            failed = sorted(d for d in deps[step.id] if not outcomes[d].ok)
            if failed:
                outcomes[step.id] = StepOutcome(
                    id=step.id,
                    tool=step.tool,
                    ok=False,
                    skipped=True,
                    error=f"skipped: it needs step {', '.join(failed)}, which failed",
                )
                return
            try:
                arguments = resolve(step.args, outputs)
            except ChainError as exc:
                outcomes[step.id] = StepOutcome(
                    id=step.id, tool=step.tool, arguments=step.args, ok=False, error=f"bad reference: {exc}"
                )
                return
            async with gate:
                result = await call(step.id, step.tool, arguments)
            if result.ok:
                outputs[step.id] = result.output
            outcomes[step.id] = StepOutcome(
                id=step.id,
                tool=step.tool,
                arguments=result.arguments,
                ok=result.ok,
                output=result.output,
                error=result.error,
                latency_s=result.latency_s,
                started=result.started,
                ended=result.ended,
                result=result,
            )
        finally:
            done[step.id].set()

    await asyncio.gather(*(run_step(s) for s in chain.steps))
    return ChainResult(steps=[outcomes[i] for i in ids])


def describe_chain(chain: Chain) -> str:
    """The chain as compact JSON (how it appears in the history the planner and summarizer read)."""
    return json.dumps([s.model_dump() for s in chain.steps], ensure_ascii=False)
