"""The built-in tools: documents (MAIN-RAG), the graph (Think-on-Graph), arithmetic, time, units, files.

``search_documents`` and ``query_graph`` import rag/ and kg/ inside the call, so ``tools`` stays importable (and
fast to import) without chromadb or sentence-transformers loaded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.core.config import LoopSettings, Settings
from agent.core.errors import BadInputError, ToolError, describe
from agent.core.trace import Citation
from tools import calc, units
from tools.probe import apply_probes
from tools.registry import Tool, ToolContext, ToolOutput, ToolRegistry, jsonable, render_value, tool


def _loop_settings(context: ToolContext) -> LoopSettings:
    return context.settings.loop if context.settings is not None else LoopSettings()


def _require_hub(context: ToolContext, name: str) -> Any:
    if context.hub is None:
        raise ToolError(f"{name} needs the LLM hub (it is only available inside a run)")
    return context.hub


# -- knowledge ---------------------------------------------------------------------------------------------------


@tool
async def search_documents(query: str, context: ToolContext) -> ToolOutput:
    """Search the ingested documents and answer from the passages that a relevance judge keeps (MAIN-RAG).

    Args:
        query: the question or topic to look up in the documents, in plain words
    """
    hub = _require_hub(context, "search_documents")
    try:
        from rag.main_rag import RagAgents
        from rag.search import search_documents as rag_search
    except ImportError as exc:
        raise ToolError(f"document search is not available in this build: {exc}") from None
    try:
        found = await rag_search(
            query, agents=RagAgents.from_hub(hub, context.trace), settings=hub.settings, trace=context.trace
        )
    except BadInputError as exc:  # e.g. nothing ingested yet: the model should hear it, not the run crash
        raise ToolError(str(exc)) from None
    return as_tool_output(found)


@tool
async def query_graph(question: str, context: ToolContext) -> ToolOutput:
    """Answer a question by walking the knowledge graph of entities and relations (Think-on-Graph).

    Args:
        question: a question about entities and how they are related, in plain words
    """
    hub = _require_hub(context, "query_graph")
    try:
        from kg.mode import query_graph as kg_query
    except ImportError as exc:
        raise ToolError(f"graph search is not available in this build: {exc}") from None
    try:
        found = await kg_query(question, hub=hub, trace=context.trace)
    except BadInputError as exc:  # e.g. no graph loaded
        raise ToolError(str(exc)) from None
    return as_tool_output(found)


def as_tool_output(found: Any, *, max_sources: int = 8) -> ToolOutput:
    """What rag/ or kg/ returned (an object or dict with an answer and citations) as a value plus citations."""

    def field(name: str) -> Any:
        return found.get(name) if isinstance(found, dict) else getattr(found, name, None)

    raw = field("citations") or []
    citations = [c if isinstance(c, Citation) else Citation.model_validate(c) for c in raw]
    answer = next((v for v in (field("answer"), field("text")) if isinstance(v, str)), None)
    value: dict[str, Any] = {"answer": answer if answer is not None else render_value(jsonable(found))}
    if short := field("short_answer"):
        value["short_answer"] = short
    if citations:
        value["sources"] = [f"{c.source or c.id}: {c.text[:200]}" for c in citations[:max_sources]]
    return ToolOutput(value=value, citations=citations)


async def describe_knowledge(settings: Settings, registry: ToolRegistry) -> tuple[str, set[str]]:
    """One line per knowledge tool saying what it can draw on, and the tools with nothing behind them.

    The auto mode shows the lines to the planner and leaves the empty tools out, so that it does not waste steps
    searching an empty store.
    """
    lines: list[str] = []
    empty: set[str] = set()
    for name, summarize in (("search_documents", _documents_summary), ("query_graph", _graph_summary)):
        if name not in registry:
            continue
        try:
            summary = await asyncio.to_thread(summarize, settings)
        except Exception as exc:  # a broken store must not stop the other tools
            summary = f"unknown ({describe(exc, 120)})"
        if summary is None:
            empty.add(name)
        else:
            lines.append(f"{name}: {summary}")
    return "\n".join(lines), empty


def _documents_summary(settings: Settings) -> str | None:
    from rag.store import open_collection

    collection = open_collection(settings)
    count = collection.count() if collection is not None else 0
    if collection is None or not count:
        return None
    titles: list[str] = []
    sample = collection.raw.get(limit=400, include=["metadatas"])
    for meta in sample.get("metadatas") or []:
        title = str((meta or {}).get("title") or "").strip()
        if title and title not in titles:
            titles.append(title[:60])
    shown = "; ".join(titles[:15])
    more = " …" if len(titles) > 15 else ""
    return f"{count} passages in collection {collection.name!r}" + (
        f", from documents such as: {shown}{more}" if shown else ""
    )


def _graph_summary(settings: Settings) -> str | None:
    from kg.stores.open import open_store

    if settings.kg.backend == "sparql":  # counting a remote graph can take minutes: say what it is instead
        return "a knowledge graph behind a SPARQL endpoint (entities found by their labels)"

    async def stats() -> Any:
        store = open_store(settings.home, settings.kg)
        try:
            return await store.stats()
        finally:
            await store.aclose()

    try:
        found = asyncio.run(stats())  # this runs in a worker thread (describe_knowledge), with no loop of its own
    except BadInputError:
        return None
    if not found.triples:
        return None
    relations = ", ".join(name for name, _ in found.top_relations[:10])
    entities = f"{found.entities} entities and " if found.entities is not None else ""
    return f"{entities}{found.triples} triples; relations such as: {relations}"


# -- arithmetic, time, units ---------------------------------------------------------------------------------------


@tool(blocking=False)  # quick and bounded: runs on the event loop, no thread hand-off
def calculator(expression: str) -> int | float:
    """Evaluate an arithmetic expression exactly: + - * / // % ** and parentheses, with sqrt, log, log10, exp,
    sin, cos, tan, asin, acos, atan, atan2, hypot, radians, degrees, floor, ceil, round, abs, min, max,
    factorial, and the constants pi, e and tau. Trigonometry works in radians.

    Args:
        expression: the expression, for example "(12.5 + 3) * 2" or "sqrt(3**2 + 4**2)"
    """
    return calc.evaluate(expression)


@tool(blocking=False)  # quick and bounded: runs on the event loop, no thread hand-off
def current_datetime(timezone: str | None = None) -> dict[str, str]:
    """The current date and time, in UTC or in a given time zone.

    Args:
        timezone: an IANA time zone name such as "Europe/London" or "America/New_York"; default UTC
    """
    name = (timezone or "UTC").strip() or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/London'") from None
    now = dt.datetime.now(zone)
    return {
        "datetime": now.isoformat(timespec="seconds"),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M:%S"),
        "weekday": now.strftime("%A"),
        "timezone": name,
        "utc_offset": now.strftime("%z")[:3] + ":" + now.strftime("%z")[3:],
    }


@tool(blocking=False)  # quick and bounded: runs on the event loop, no thread hand-off
def convert_units(value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
    """Convert a quantity between units of length (m, km, nmi, mi, ft, fathom, cable …), mass (kg, lb, t …),
    time (s, min, h, day …), speed (m/s, km/h, kn, mph …), angle (deg, rad, arcmin, point) or temperature
    (C, F, K). "nm" means nautical miles.

    Args:
        value: the number to convert
        from_unit: the unit of the value, for example "nautical miles" or "kn"
        to_unit: the unit wanted, for example "km" or "km/h"
    """
    result, source, target = units.convert(value, from_unit, to_unit)
    return {"value": result, "unit": target, "from": f"{value:g} {source}"}


# -- files ----------------------------------------------------------------------------------------------------------


def allowed_root(settings: LoopSettings) -> Path:
    return Path(settings.file_root or os.getcwd()).expanduser().resolve()


def safe_path(root: Path, requested: str) -> Path:
    """``requested`` resolved under ``root`` (symlinks followed); ToolError if it lands anywhere else."""
    if not requested.strip():
        raise ToolError("the path is empty")
    if "\x00" in requested:
        raise ToolError("the path contains a NUL byte")
    target = (root / requested).resolve()
    if target != root and not target.is_relative_to(root):
        raise ToolError(f"{requested!r} is outside the folder this tool may read")
    return target


# Files whose content is credentials more often than not; every dotfile or dot-folder (.env, .netrc, .git/, .ssh/,
# .aws/…) is refused as well. ``loop.read_file_allow`` lifts the rule for the patterns the user names.
SECRET_FILES = ("id_*", "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "*.kdbx", "credentials*")


def refuse_secret_file(root: Path, target: Path, requested: str, allow: list[str]) -> None:
    """ToolError when ``target`` is a dotfile, inside a dot-folder, or named like a key or credentials file."""
    relative = target.relative_to(root) if target != root else Path(".")
    if any(fnmatch.fnmatch(relative.as_posix(), pattern) for pattern in allow):
        return
    hidden = any(part.startswith(".") and part not in (".", "..") for part in relative.parts)
    secret = any(fnmatch.fnmatch(relative.name.lower(), pattern) for pattern in SECRET_FILES)
    if hidden or secret:
        raise ToolError(
            f"{requested!r} is a hidden or secret file, which read_file does not read "
            "(the user can allow it with loop.read_file_allow)"
        )


@tool
def read_file(path: str, context: ToolContext) -> ToolOutput:
    """Read a text file from the allowed folder (the current directory unless configured otherwise).

    Args:
        path: the file's path relative to the allowed folder, for example "notes/voyage.md"
    """
    settings = _loop_settings(context)
    root = allowed_root(settings)
    target = safe_path(root, path)
    refuse_secret_file(root, target, path, settings.read_file_allow)
    if target.is_dir():
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir() if not p.name.startswith("."))
        entries = entries[:50]
        raise ToolError(f"{path!r} is a folder; it holds: {', '.join(entries) or '(nothing)'}")
    if not target.is_file():
        raise ToolError(f"no such file: {path!r}")
    limit = settings.read_file_max_bytes
    with target.open("rb") as fh:
        data = fh.read(limit + 1)
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path!r} is not a text file")
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        text += f"\n…[cut at {limit} bytes]"
    relative = target.relative_to(root).as_posix()
    return ToolOutput(
        value=text, citations=[Citation(id=f"file:{relative}", kind="tool", source=relative, text=text[:300])]
    )


GENERAL_TOOLS: tuple[Tool, ...] = (calculator, current_datetime, convert_units, read_file)


def build_registry(settings: Settings, *, knowledge: bool) -> ToolRegistry:
    """The tools of one run: the general built-ins, the knowledge tools when ``knowledge`` (auto mode), then the
    user's module (``loop.tools_module``); ``loop.disabled_tools`` are left out."""
    registry = ToolRegistry()
    chosen = [search_documents, query_graph, *GENERAL_TOOLS] if knowledge else list(GENERAL_TOOLS)
    for item in chosen:
        registry.add(item)
    if settings.loop.tools_module:
        registry.load_module(settings.loop.tools_module)
    for name in settings.loop.disabled_tools:
        registry.remove(name)
    apply_probes(registry, settings.cache_dir)  # what `lodestar tools probe` learned about undocumented outputs
    return registry


async def assemble_registry(settings: Settings, *, knowledge: bool) -> ToolRegistry:
    """:func:`build_registry` plus the tools of the MCP servers in ``[mcp.servers]`` (started on first use)."""
    registry = build_registry(settings, knowledge=knowledge)
    if settings.mcp.servers:
        from tools.mcp.adapter import add_mcp_tools

        await add_mcp_tools(registry, settings)
        for name in settings.loop.disabled_tools:
            registry.remove(name)
    return registry
