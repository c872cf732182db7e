"""Typed tools from plain Python functions: ``@tool`` turns a sync or async function into a :class:`Tool`.

Why this shape: the model sees a JSON schema built by pydantic from the type hints and the docstring, so a tool is
one ordinary function with no schema to keep in sync by hand; the model's arguments are validated against the
same pydantic model, and whatever goes wrong (bad arguments, an exception, a timeout) comes back as a failed
:class:`ToolResult` that the loop shows to the model as an observation, never as a crash.

A parameter annotated :class:`ToolContext` is injected by the loop (settings, the LLM hub, the trace) and is not
part of the schema. A tool may return :class:`ToolOutput` to attach citations to its value.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import time
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic_core import to_jsonable_python

from agent.core.errors import ConfigError, LodestarError, ToolError, describe, validation_line
from agent.core.secrets import redact, redact_value
from agent.core.trace import Citation

if TYPE_CHECKING:
    from agent.core.config import Settings
    from agent.core.trace import Trace
    from agent.llm.hub import LLMHub

RESERVED_NAMES = frozenset({"chain"})  # the caller's name for a tool chain (tools/chain.py)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


@dataclass
class ToolContext:
    """What a tool may need from the run; injected into a parameter annotated ``ToolContext``."""

    settings: Settings | None = None
    hub: LLMHub | None = None
    trace: Trace | None = None
    step: str | None = None


class ToolOutput(BaseModel):
    """A tool's value plus where it came from (document chunks, triples, files) for the answer's citations."""

    value: Any = None
    citations: list[Citation] = Field(default_factory=list)


class ToolResult(BaseModel):
    """One call's outcome. ``output`` is JSON-able and whole (the trace keeps it); the model sees a truncated view."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    output: Any = None
    error: str | None = None
    latency_s: float = 0.0
    started: float = 0.0  # time.perf_counter() at start and end: lets tests and benches see overlap
    ended: float = 0.0
    citations: list[Citation] = Field(default_factory=list)

    def text(self) -> str:
        """The whole result as text: the output (JSON unless a string) or ``ERROR: …``."""
        if not self.ok:
            return f"ERROR: {self.error}"
        return render_value(self.output)

    def observation(self, limit: int) -> str:
        """What the model is shown: :meth:`text` cut to ``limit`` characters (α-UMi: 1,024)."""
        return truncate(self.text(), limit)


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f" …[truncated, {len(text)} characters in all]"


def jsonable(value: Any) -> Any:
    """Tool outputs become plain JSON values (pydantic models, dates, paths and sets included) for the trace."""
    return to_jsonable_python(value, fallback=str)


# -- docstrings ----------------------------------------------------------------------------------------------------

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_GOOGLE_PARAM = re.compile(r"^\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[\w\[\], |]+\s+)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google- or Sphinx-style docstring into (description, {param: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in lines:
        if sphinx := _SPHINX_PARAM.match(line):
            current, section = sphinx.group(1), "args"
            params[current] = sphinx.group(2).strip()
            continue
        if line.strip().startswith(":"):  # :returns:, :raises: …
            section, current = "other", None
            continue
        if header := _SECTION.match(line):
            section = "args" if header.group(1).lower().startswith(("arg", "param")) else "other"
            current = None
            continue
        if section is None:
            summary.append(line)
        elif section == "args":
            indent = len(line) - len(line.lstrip())
            match = _GOOGLE_PARAM.match(line)
            if match and (current is None or indent <= 4):
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
    description = " ".join(" ".join(summary).split())
    return description, params


# -- schema ----------------------------------------------------------------------------------------------------------


def _strip_titles(schema: Any) -> Any:
    """pydantic's "title" keys only cost prompt tokens; drop them (but keep properties that are *named* title)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def _simplify_optional(prop: dict[str, Any]) -> dict[str, Any]:
    """``X | None = None`` shows as plain X (optional by not being required): shorter, and small models cope."""
    variants = prop.get("anyOf")
    if not isinstance(variants, list) or prop.get("default", ...) is not None:
        return prop
    others = [v for v in variants if v != {"type": "null"}]
    if len(others) != 1 or len(variants) != 2:
        return prop
    simpler = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**others[0], **simpler}


def _is_context(annotation: Any) -> bool:
    """``ToolContext`` or ``ToolContext | None`` (also as an unresolved string annotation)."""
    if isinstance(annotation, str):
        return annotation.replace(" ", "") in (
            "ToolContext",
            "ToolContext|None",
            "Optional[ToolContext]",
        ) or annotation.endswith(".ToolContext")
    if annotation is ToolContext:
        return True
    return ToolContext in typing.get_args(annotation) and type(None) in typing.get_args(annotation)


def _format_validation(name: str, exc: ValidationError) -> str:
    return f"invalid arguments for {name}: " + validation_line(exc, top="(arguments)", show=5, inputs=True)


@dataclass
class Tool:
    """A callable the model may use. Build it with :func:`tool`; call ``fn`` directly or ``invoke`` validated."""

    name: str
    description: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    is_async: bool
    context_param: str | None = None
    timeout_s: float | None = None
    knows: str = ""  # a static hint appended to the description
    blocking: bool = True  # sync tools run in a worker thread unless marked quick and bounded (blocking=False)
    param_docs: dict[str, str] = field(default_factory=dict)
    examples: tuple[str, ...] = ()  # questions this tool answers: one of tool retrieval's views (tools/retrieval.py)
    side_effects: bool = False  # it changes something (sends, writes, buys): probing asks before running it
    returns: Any = None  # the return annotation, for the declared output type

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @functools.cached_property
    def parameters(self) -> dict[str, Any]:
        """The arguments' JSON schema (computed once: pydantic's schema generation costs about a millisecond)."""
        schema = _strip_titles(self.args_model.model_json_schema())
        schema.pop("additionalProperties", None)
        properties = schema.setdefault("properties", {})
        for name, prop in properties.items():
            properties[name] = _simplify_optional(prop)
        return schema

    def spec(self, output: Any = None) -> dict[str, Any]:
        """The OpenAI ``tools=[…]`` entry (native tool calls); a probed ``output`` schema joins the description."""
        description = self.full_description()
        if output is not None:
            description += f" Returns: {json.dumps(output, ensure_ascii=False)}"
        return {
            "type": "function",
            "function": {"name": self.name, "description": description, "parameters": self.parameters},
        }

    def full_description(self) -> str:
        return f"{self.description} {self.knows}".strip()

    @functools.cached_property
    def declared_output(self) -> dict[str, Any] | None:
        """The JSON schema of the return annotation when it says something (not Any, a bare dict or ToolOutput)."""
        hint = self.returns
        if hint is None or hint is inspect.Parameter.empty or hint is Any or hint is ToolOutput:
            return None
        try:
            schema = _strip_titles(TypeAdapter(hint).json_schema())
        except Exception:  # an annotation pydantic cannot describe declares nothing usable
            return None
        vague: tuple[dict[str, Any], ...] = (
            {},
            {"type": "object"},
            {"type": "object", "additionalProperties": True},
            {"type": "array"},
        )
        if schema in vague or schema == {"type": "array", "items": {}}:
            return None
        return dict(schema)

    @functools.cached_property
    def _doc_line(self) -> str:
        return json.dumps(
            {"name": self.name, "description": self.full_description(), "parameters": self.parameters},
            ensure_ascii=False,
        )

    def doc_line(self, output: Any = None) -> str:
        """One JSON line per tool, as α-UMi's prompts show the API docs; a probed ``output`` schema is added as
        ATC's "execution result specification"."""
        if output is None:
            return self._doc_line
        return json.dumps(
            {
                "name": self.name,
                "description": self.full_description(),
                "parameters": self.parameters,
                "output": output,
            },
            ensure_ascii=False,
        )

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Arguments checked and coerced by the pydantic model; raises ToolError with a message for the model."""
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ToolError(f"arguments for {self.name} must be a JSON object, not {type(arguments).__name__}")
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolError(_format_validation(self.name, exc)) from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    async def invoke(
        self, arguments: Any, context: ToolContext | None = None, *, timeout_s: float | None = None
    ) -> ToolResult:
        """Validate, run (sync tools in a thread) under a timeout, and report; exceptions become failed results.

        Cancellation still propagates. A sync tool that overruns its timeout keeps its thread until it returns
        (Python cannot kill threads); its result is then ignored.
        """
        shown_args = arguments if isinstance(arguments, dict) else {"_": arguments}
        started = time.perf_counter()

        def finish(**fields: Any) -> ToolResult:
            """The result, with every secret-looking value in it redacted: what a tool printed goes to the model,
            the trace and maybe the answer."""
            ended = time.perf_counter()
            for key in ("output", "error"):
                if key in fields:
                    fields[key] = redact_value(fields[key])
            if fields.get("citations"):
                fields["citations"] = [c.model_copy(update={"text": redact(c.text)}) for c in fields["citations"]]
            return ToolResult(
                name=self.name,
                arguments=jsonable(shown_args),
                started=started,
                ended=ended,
                latency_s=round(ended - started, 6),
                **fields,
            )

        try:
            kwargs = self.validate(arguments)
        except ToolError as exc:
            return finish(ok=False, error=str(exc))
        if self.context_param:
            kwargs[self.context_param] = context or ToolContext()
        limit = self.timeout_s or timeout_s
        try:
            if self.is_async:
                pending = self.fn(**kwargs)
            elif not self.blocking:  # microseconds of bounded CPU: a thread hand-off would cost more than the call
                pending = _ready(self.fn, kwargs)
            else:
                pending = asyncio.to_thread(functools.partial(self.fn, **kwargs))
            value = await (asyncio.wait_for(pending, limit) if limit else pending)
        except TimeoutError as exc:
            if limit is None:  # the tool's own timeout (a network call, say), not ours
                return finish(ok=False, error=f"TimeoutError: {exc}".rstrip(": "))
            return finish(ok=False, error=f"{self.name} timed out after {limit:g} s")
        except LodestarError as exc:
            return finish(ok=False, error=str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool's bug is the model's observation, not our crash
            return finish(ok=False, error=describe(exc))
        citations: list[Citation] = []
        if isinstance(value, ToolOutput):
            citations, value = list(value.citations), value.value
        return finish(ok=True, output=jsonable(value), citations=citations)


async def _ready(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return fn(**kwargs)


def _build(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    timeout_s: float | None,
    knows: str,
    blocking: bool = True,
    examples: tuple[str, ...] = (),
    side_effects: bool = False,
) -> Tool:
    if isinstance(fn, Tool):
        return fn
    tool_name = name or fn.__name__
    if not _NAME.match(tool_name):
        raise ValueError(f"tool name {tool_name!r}: use letters, digits, _ and - (max 64)")
    if tool_name in RESERVED_NAMES:
        raise ValueError(f"tool name {tool_name!r} is reserved")
    summary, param_docs = parse_docstring(fn.__doc__)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        hints = dict(getattr(fn, "__annotations__", {}))
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ValueError(f"tool {tool_name!r}: *args/**kwargs cannot be described to a model")
        annotation = hints.get(param.name, param.annotation)
        if _is_context(annotation):
            context_param = param.name
            continue
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name) or None))
    model = create_model(f"{tool_name.replace('-', '_')}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    return Tool(
        name=tool_name,
        description=description or summary or tool_name,
        fn=fn,
        args_model=model,
        is_async=inspect.iscoroutinefunction(fn),
        context_param=context_param,
        timeout_s=timeout_s,
        knows=knows,
        blocking=blocking,
        param_docs=param_docs,
        examples=examples,
        side_effects=side_effects,
        returns=hints.get("return", inspect.Parameter.empty),
    )


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    knows: str = "",
    blocking: bool = True,
    examples: tuple[str, ...] = (),
    side_effects: bool = False,
) -> Any:
    """Make a :class:`Tool` from a function: ``@tool`` or ``@tool(name="…", timeout_s=5)``.

    The description is the docstring's summary; parameter descriptions come from its ``Args:`` section (or
    ``:param x:`` lines); types and defaults come from the signature. Sync functions run in a worker thread;
    ``blocking=False`` runs them on the event loop instead, for quick bounded work only (no I/O).
    ``side_effects=True`` marks a tool that changes something, so that probing asks before running it.
    """
    if fn is not None:
        return _build(fn, name, description, timeout_s, knows, blocking, examples, side_effects)
    return lambda f: _build(f, name, description, timeout_s, knows, blocking, examples, side_effects)


class ToolRegistry:
    """The tools one run may use, by name, in a stable order."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self.outputs: dict[str, Any] = {}  # probed output schemas by tool name (tools/probe.py)
        for item in tools:
            self.add(item)

    def add(self, item: Tool | Callable[..., Any], *, replace: bool = False) -> Tool:
        built = item if isinstance(item, Tool) else tool(item)
        if built.name in self._tools and not replace:
            raise ValueError(f"a tool named {built.name!r} is already registered")
        self._tools[built.name] = built
        return built

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def resolve(self, name: str) -> Tool | None:
        """Find a tool by the name a model wrote: exact, else case/punctuation-insensitive ("functions.x", "X")."""
        cleaned = name.strip().strip("`'\"[]().,:").strip()
        if cleaned.startswith("functions."):
            cleaned = cleaned[len("functions.") :]
        if cleaned in self._tools:
            return self._tools[cleaned]
        folded = re.sub(r"[\s\-_]", "", cleaned).lower()
        for known, found in self._tools.items():
            if re.sub(r"[\s\-_]", "", known).lower() == folded:
                return found
        return None

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec(self.outputs.get(t.name)) for t in self._tools.values()]

    def docs(self) -> str:
        return "\n".join(t.doc_line(self.outputs.get(t.name)) for t in self._tools.values())

    async def call(
        self, name: str, arguments: Any, context: ToolContext | None = None, *, timeout_s: float | None = None
    ) -> ToolResult:
        found = self.resolve(name)
        if found is None:
            started = time.perf_counter()
            return ToolResult(
                name=name,
                arguments=arguments if isinstance(arguments, dict) else {},
                ok=False,
                error=unknown_tool_message(name, self.names),
                started=started,
                ended=started,
            )
        return await found.invoke(arguments, context, timeout_s=timeout_s)

    def load_module(self, module: str, *, key: str = "loop.tools_module") -> list[Tool]:
        """Add every ``@tool`` found in ``module`` (a dotted name or a ``.py`` path); errors name the config key."""
        loaded = _import_tools_module(module, key)
        found = [value for value in vars(loaded).values() if isinstance(value, Tool)]
        if not found:
            raise ConfigError(f"{key}: module {module!r} defines no @tool functions")
        for item in found:
            if item.name in self._tools and self._tools[item.name] is not item:
                raise ConfigError(f"{key}: tool {item.name!r} in {module!r} clashes with a tool of the same name")
            self._tools[item.name] = item
        return found


def unknown_tool_message(name: str, known: Iterable[str]) -> str:
    return f"unknown tool {name.strip()[:60]!r}; the tools are: {', '.join(known)}"


def _import_tools_module(module: str, key: str) -> Any:
    try:
        if module.endswith(".py") or os.sep in module or "/" in module:
            path = Path(module).expanduser().resolve()
            if not path.is_file():
                raise ConfigError(f"{key}: no such file: {path}")
            spec = importlib.util.spec_from_file_location(f"lodestar_user_tools_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"{key}: cannot load {path}")
            loaded = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(loaded)
            return loaded
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module.split(".")[0] or os.getcwd() in sys.path:
                raise
            sys.path.insert(0, os.getcwd())  # a module next to lodestar.toml, when run as the console script
            try:
                return importlib.import_module(module)
            finally:
                sys.path.remove(os.getcwd())
    except ConfigError:
        raise
    except Exception as exc:  # ImportError, SyntaxError, or whatever the module raised at import
        raise ConfigError(f"{key}: cannot import {module!r}: {describe(exc, 200)}") from None
