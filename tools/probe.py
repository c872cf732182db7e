"""Black-box probing (ATC §4.3): learn what an undocumented tool returns by having the model test it.

For each tool with no declared output type (tools/registry.py ``Tool.declared_output``), the caller model proposes
a test call; Lodestar runs it — in the sandbox when programs are on (``loop.chains = "program"``), so the probe
goes the way a program's call would, directly otherwise — after asking for confirmation when the tool is marked as
having side effects. The output's simplified schema (ATC's ``simplify_json``: a leaf becomes its type name, a list
its first element) and an example are cached under ``LODESTAR_HOME/cache/probes.json``; :func:`apply_probes` puts
them into the registry, whose tool docs then carry an ``output`` section. A failed test call is fed back for
another proposal, at most ``tries`` times (ATC: 3). Phase 2 of ATC (chain probing, using already-probed tools to
build inputs) is left out: Lodestar's tools take plain values.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agent.core.config import Settings
from agent.core.errors import BadInputError
from agent.core.trace import Trace
from tools import prompts
from tools.program import function_name, run_program
from tools.registry import Tool, ToolContext, ToolRegistry, ToolResult, truncate
from tools.sandbox.runner import Sandbox

if TYPE_CHECKING:
    from agent.llm.hub import LLMHub

CACHE_FILE = "probes.json"
EXAMPLE_CHARS = 2000
Confirm = Callable[[Tool, dict[str, Any]], Awaitable[bool]]
Status = Literal["probed", "cached", "declared", "skipped", "failed"]


class ProbeRecord(BaseModel):
    """What one probe learned: the call, the output's simplified schema and a (shortened) example."""

    tool: str
    signature: str  # the tool's docs when probed: a changed tool is probed again
    arguments: dict[str, Any] = Field(default_factory=dict)
    output_schema: Any = None
    example: Any = None
    probed_at: float = 0.0


class ProbeOutcome(BaseModel):
    tool: str
    status: Status
    detail: str = ""
    record: ProbeRecord | None = None


def simplify_json(value: Any) -> Any:
    """ATC's simplified schema: leaves become type names, lists their first element's schema, objects stay objects."""
    if isinstance(value, dict):
        return {str(key): simplify_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [simplify_json(value[0])] if value else []
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


def signature(tool: Tool) -> str:
    return hashlib.sha256(tool.doc_line().encode()).hexdigest()[:16]


# -- the cache -------------------------------------------------------------------------------------------------------


def load_cache(cache_dir: Path) -> dict[str, ProbeRecord]:
    path = cache_dir / CACHE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):  # a damaged cache is only a cache: probe again
        return {}
    records: dict[str, ProbeRecord] = {}
    for name, item in raw.items() if isinstance(raw, dict) else ():
        try:
            records[name] = ProbeRecord.model_validate(item)
        except ValidationError:
            continue
    return records


def save_cache(cache_dir: Path, records: dict[str, ProbeRecord]) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / CACHE_FILE
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    data = {name: record.model_dump() for name, record in sorted(records.items())}
    scratch.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    scratch.replace(path)


def apply_probes(registry: ToolRegistry, cache_dir: Path) -> None:
    """Give each undocumented tool its probed output schema, when the cache has one for the tool as it is now."""
    records = load_cache(cache_dir)
    for item in registry:
        record = records.get(item.name)
        if item.declared_output is None and record is not None and record.signature == signature(item):
            registry.outputs[item.name] = record.output_schema


# -- probing ---------------------------------------------------------------------------------------------------------


def _proposal(text: str) -> dict[str, Any]:
    """The arguments of a proposed test call: the JSON object after ``Action Input:`` (or the first one)."""
    marker = text.lower().rfind("action input:")
    body = text[marker + len("action input:") :] if marker >= 0 else text
    start = body.find("{")
    if start < 0:
        raise ValueError("the reply has no JSON object of arguments")
    value, _ = json.JSONDecoder().raw_decode(body[start:])
    if not isinstance(value, dict):
        raise ValueError("the arguments must be one JSON object")
    return value


class Prober:
    """Probes the tools of one registry with one hub; the sandbox, when programs are on, is started once."""

    def __init__(self, registry: ToolRegistry, hub: LLMHub, *, confirm: Confirm | None = None, tries: int = 3) -> None:
        self.registry = registry
        self.hub = hub
        self.settings: Settings = hub.settings
        self.confirm = confirm
        self.tries = tries
        self.trace = Trace()
        self.sandbox: Sandbox | None = None

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sandbox is not None:
            await self.sandbox.close()

    async def probe(self, names: Iterable[str] = (), *, refresh: bool = False) -> list[ProbeOutcome]:
        chosen = list(names)
        unknown = [n for n in chosen if self.registry.resolve(n) is None]
        if unknown:
            raise BadInputError(f"no tool named {unknown[0]!r}; the tools are: {', '.join(self.registry.names)}")
        tools = [self.registry.resolve(n) for n in chosen] if chosen else list(self.registry)
        records = load_cache(self.settings.cache_dir)
        outcomes = []
        for item in tools:
            assert item is not None
            outcome = await self.probe_one(item, records.get(item.name), refresh=refresh)
            if outcome.status == "probed" and outcome.record is not None:
                records[item.name] = outcome.record
                save_cache(self.settings.cache_dir, records)  # each result kept as soon as it is known
            outcomes.append(outcome)
        apply_probes(self.registry, self.settings.cache_dir)
        return outcomes

    async def probe_one(self, item: Tool, cached: ProbeRecord | None, *, refresh: bool) -> ProbeOutcome:
        if item.declared_output is not None:
            return ProbeOutcome(tool=item.name, status="declared", detail=json.dumps(item.declared_output))
        if cached is not None and cached.signature == signature(item) and not refresh:
            return ProbeOutcome(tool=item.name, status="cached", record=cached)
        caller = self.hub.llm("caller", self.trace)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.PROBE_SYSTEM},
            {"role": "user", "content": prompts.PROBE_USER.format(doc=item.doc_line())},
        ]
        error = "no test call was proposed"
        for _ in range(self.tries):
            reply = (await caller.complete(messages)).text
            try:
                arguments = _proposal(reply)
            except ValueError as exc:
                error = str(exc)
            else:
                if item.side_effects and not (self.confirm is not None and await self.confirm(item, arguments)):
                    return ProbeOutcome(tool=item.name, status="skipped", detail="it has side effects; not confirmed")
                result = await self.run(item, arguments)
                if result.ok:
                    record = ProbeRecord(
                        tool=item.name,
                        signature=signature(item),
                        arguments=arguments,
                        output_schema=simplify_json(_parsed(result.output)),
                        example=_example(result.output),
                        probed_at=time.time(),
                    )
                    return ProbeOutcome(tool=item.name, status="probed", record=record)
                error = result.error or "the call failed"
            messages += [
                {"role": "assistant", "content": reply or "(empty)"},
                {"role": "user", "content": prompts.PROBE_RETRY.format(error=error)},
            ]
        return ProbeOutcome(tool=item.name, status="failed", detail=error)

    async def run(self, item: Tool, arguments: dict[str, Any]) -> ToolResult:
        """Run the test call: through a one-line program in the sandbox when programs apply, else directly."""
        context = ToolContext(settings=self.settings, hub=self.hub, trace=self.trace, step="probe")
        timeout = self.settings.loop.tool_timeout_s

        async def invoke(name: str, args: dict[str, Any]) -> ToolResult:
            return await self.registry.call(name, args, context, timeout_s=timeout)

        if not self.settings.loop.programs:
            return await invoke(item.name, arguments)
        if self.sandbox is None:
            self.sandbox = Sandbox(self.settings.sandbox, self.settings.cache_dir)
        code = f"import json\nprint(json.dumps({function_name(item.name)}(**json.loads({json.dumps(arguments)!r}))))"
        program, results = await run_program(self.sandbox, code, self.registry, invoke)
        if results and results[-1].ok and program.ok:
            return results[-1]
        error = results[-1].error if results and not results[-1].ok else program.error
        return ToolResult(name=item.name, arguments=arguments, ok=False, error=error or "the test program failed")


def _parsed(output: Any) -> Any:
    """A tool that returns JSON as text is described by that JSON."""
    if isinstance(output, str) and output.strip()[:1] in ("{", "["):
        try:
            return json.loads(output)
        except ValueError:
            return output
    return output


def _example(output: Any) -> Any:
    text = json.dumps(output, ensure_ascii=False, default=str)
    return output if len(text) <= EXAMPLE_CHARS else truncate(text, EXAMPLE_CHARS)
