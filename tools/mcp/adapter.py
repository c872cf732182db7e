"""MCP tools as registry :class:`Tool`\\ s: a qualified name OpenAI-compatible APIs accept, the converted schema,
arguments validated before the call, and results made untrusted data (sanitized, like documents).

The server's name and description are untrusted too (they reach the planner's prompt): sanitized and cut.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from agent.core.config import Settings
from agent.core.errors import ToolError
from agent.core.untrusted import sanitize
from tools.mcp.client import McpConnection
from tools.mcp.pool import get_pool, wanted
from tools.mcp.schema import ArgumentValidator, convert_schema
from tools.registry import Tool, ToolOutput, ToolRegistry, jsonable

log = logging.getLogger("lodestar.mcp")
MAX_NAME = 64  # OpenAI's limit on a function name
MAX_DESCRIPTION = 1024
_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_EMPTY: type[BaseModel] = create_model("mcp_arguments", __config__=ConfigDict(extra="allow"))


def qualified_name(server: str, tool: str) -> str:
    """``server__tool`` with anything but letters, digits, ``_`` and ``-`` replaced, cut to 64 with a hash."""
    name = f"{server}__{_BAD.sub('_', tool).strip('_') or 'tool'}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def clean_text(value: Any) -> Any:
    """Every string inside ``value`` sanitized (chat-template tokens and our delimiters removed)."""
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, list):
        return [clean_text(v) for v in value]
    if isinstance(value, dict):
        return {sanitize(str(k)): clean_text(v) for k, v in value.items()}
    return value


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(getattr(block, "text", ""))
    if kind == "resource":
        resource = getattr(block, "resource", None)
        text = getattr(resource, "text", None)
        return str(text) if text is not None else f"[resource {getattr(resource, 'uri', '')}]"
    if kind == "resource_link":
        return f"[resource {getattr(block, 'uri', '')}]"
    return f"[{kind or 'content'}: {getattr(block, 'mime_type', '') or 'binary'}]"  # image, audio


def result_value(qualified: str, result: Any) -> ToolOutput:
    """A CallToolResult as a ToolOutput: structured content if any, else the text blocks; is_error -> ToolError."""
    text = "\n".join(_block_text(b) for b in result.content or [])
    if result.is_error:
        reason = " ".join(sanitize(text).split())[:300] or "the tool reported an error"
        raise ToolError(f"{qualified}: {reason}")
    structured = getattr(result, "structured_content", None)
    if isinstance(structured, dict) and set(structured) == {"result"}:  # the SDK's wrapping of a plain return value
        structured = structured["result"]
    value = clean_text(jsonable(structured)) if structured is not None else sanitize(text)
    return ToolOutput(value=value)  # the loop cites it like any tool result: name(arguments)


@dataclass
class McpTool(Tool):
    """A tool of an MCP server; ``invoke`` (inherited) validates with the schema, calls, and reports."""

    server: str = ""
    remote_name: str = ""
    schema: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def parameters(self) -> dict[str, Any]:
        return self.schema

    @functools.cached_property
    def _validator(self) -> ArgumentValidator:
        return ArgumentValidator(self.name, self.schema)

    def validate(self, arguments: Any) -> dict[str, Any]:
        return self._validator(arguments)


def make_tool(connection: McpConnection, listed: Any) -> McpTool:
    name = qualified_name(connection.name, listed.name)
    description = " ".join(sanitize(listed.description or listed.title or listed.name).split())[:MAX_DESCRIPTION]

    async def call(**arguments: Any) -> ToolOutput:
        return result_value(name, await connection.call(listed.name, arguments))

    return McpTool(
        name=name,
        description=f"{description} (from MCP server {connection.name})",
        fn=call,
        args_model=_EMPTY,
        is_async=True,
        # a backstop only: start-up (timeout_s) and the call (call_timeout_s) have their own limits and messages
        timeout_s=connection.settings.timeout_s + connection.settings.call_timeout_s + 5,
        server=connection.name,
        remote_name=listed.name,
        schema=convert_schema(listed.input_schema),
    )


def tools_of(connection: McpConnection) -> list[McpTool]:
    return [make_tool(connection, t) for t in connection.tools if wanted(t.name, connection.settings)]


async def add_mcp_tools(registry: ToolRegistry, settings: Settings) -> list[McpTool]:
    """Start (on first use) every configured server and add its wanted tools; a server that fails adds none."""
    added: list[McpTool] = []
    for connection in await get_pool().start(settings):
        if connection.status != "running":
            log.warning("MCP server %s is unavailable, its tools are left out: %s", connection.name, connection.error)
        for item in tools_of(connection):
            if item.name in registry:  # two remote names that clean to one: keep the first
                continue
            registry.add(item)
            added.append(item)
    return added
