"""The MCP server: Lodestar's tools on the official SDK's ``MCPServer`` (mcp v2), over stdio or Streamable HTTP.

Each tool is a thin wrapper over :class:`LodestarService`; every failure, ours or the user's, becomes an MCP tool
error whose text is the one-line reason (redacted), so a client's model can read it and the server keeps serving.
Read-only unless ``--allow-ingest ROOT`` is given; ingest then only reads inside those roots.
"""

# no `from __future__ import annotations`: the SDK reads the tools' annotations, some built from locals

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from agent.core.errors import LodestarError
from agent.core.secrets import redact
from agent.mcp_server.service import MAX_K, IngestResult, LodestarService, Stats, ToolAnswer
from agent.run.modes import DEFAULT_MODE, MODE_NAMES

T = TypeVar("T")
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "Lodestar answers questions over the user's own documents (MAIN-RAG), knowledge graph (Think-on-Graph) and "
    "tools, with citations. Use search_documents for raw passages, ask for a cited answer, graph_entity to see "
    "what the graph knows about a name, stats to see what is loaded."
)


def one_line(exc: BaseException) -> str:
    """The reason a client sees: our own message as is, anything else as ``Type: detail``; one line, redacted."""
    if isinstance(exc, LodestarError):
        text = str(exc)
    else:
        detail = " ".join(str(exc).split())[:300]
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return redact(" ".join(text.split()))


async def guarded(work: Awaitable[T]) -> T:
    """Run one tool's work; any exception becomes a ToolError (an ``is_error`` result) with its one-line reason."""
    try:
        return await work
    except ToolError:
        raise
    except Exception as exc:  # the server must survive whatever one call meets
        raise ToolError(one_line(exc)) from None


def build_server(service: LodestarService, *, allow_ingest: bool = False) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("lodestar", instructions=INSTRUCTIONS, log_level="WARNING")
    modes = ", ".join(MODE_NAMES)

    @server.tool(
        description=f"Answer a question with citations. Modes: {modes} (auto lets the planner choose documents, "
        "graph or tools). Reports progress as the run goes.",
        annotations=READ_ONLY,
    )
    async def ask(
        question: Annotated[str, Field(description="the question, in plain words")],
        ctx: Context,
        mode: Annotated[str, Field(description=f"one of: {modes}")] = DEFAULT_MODE,
    ) -> ToolAnswer:
        async def progress(step: float, message: str) -> None:
            await ctx.report_progress(step, None, message)

        return await guarded(service.ask(question, mode, progress))

    @server.tool(
        description="Search the ingested documents (hybrid BM25 + vector retrieval); returns the best passages as "
        "citations, without calling a model.",
        annotations=READ_ONLY,
    )
    async def search_documents(
        query: Annotated[str, Field(description="what to look for")],
        k: Annotated[int | None, Field(description=f"how many passages (1-{MAX_K}; default from config)")] = None,
    ) -> ToolAnswer:
        return await guarded(service.search_documents(query, k))

    @server.tool(
        description="Answer a question from the knowledge graph with Think-on-Graph; cites the triples it used.",
        annotations=READ_ONLY,
    )
    async def query_graph(question: Annotated[str, Field(description="a question about entities")]) -> ToolAnswer:
        return await guarded(service.query_graph(question))

    @server.tool(description="The triples around one entity of the knowledge graph.", annotations=READ_ONLY)
    async def graph_entity(name: Annotated[str, Field(description="the entity's name or an alias")]) -> ToolAnswer:
        return await guarded(service.graph_entity(name))

    @server.tool(description="What is loaded: document collections with their sizes, and the graph's size.")
    async def stats() -> Stats:
        return await guarded(service.stats())

    if allow_ingest:
        roots = ", ".join(str(r) for r in service.ingest_roots)

        @server.tool(description=f"Ingest files or folders into a document collection. Allowed under: {roots}.")
        async def ingest(
            paths: Annotated[list[str], Field(description="files or folders under an allowed root")],
            collection: Annotated[str | None, Field(description="collection name (default from config)")] = None,
        ) -> IngestResult:
            return await guarded(service.ingest(paths, collection))

    return server


def parse_http(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) for ``--http``; BadInputError names the flag."""
    from agent.core.errors import BadInputError

    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInputError(f"--http: expected HOST:PORT, got {value!r}")
    return host, int(port)


async def serve(
    service: LodestarService,
    *,
    http: str | None = None,
    allow_ingest: bool = False,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until the client closes stdin (stdio) or until Ctrl-C / SIGTERM (HTTP)."""
    server = build_server(service, allow_ingest=allow_ingest)
    if http is None:
        await server.run_stdio_async()
        return
    host, port = parse_http(http)
    if on_ready is not None:
        on_ready(f"http://{host}:{port}/mcp")
    await server.run_streamable_http_async(host=host, port=port)


def ingest_roots(values: list[str] | None) -> list[Path]:
    from agent.core.errors import BadInputError

    roots = [Path(v).expanduser().resolve() for v in values or []]
    for root in roots:
        if not root.is_dir():
            raise BadInputError(f"--allow-ingest: not a folder: {root}")
    return roots
