"""An MCP tool's input schema, made fit for an OpenAI-compatible ``tools=[…]`` entry without changing its meaning,
and the validator that checks the model's arguments against it before anything is sent to the server.

Why convert at all: many endpoints (and every small model) handle an inline schema better than ``$ref`` into
``$defs``, and OpenAPI's ``nullable: true`` is not JSON Schema, so a validator would ignore it and reject ``null``.
Conversion inlines local references (recursive ones stay as ``$ref`` with their ``$defs`` kept), rewrites
``nullable`` as ``anyOf`` with ``{"type": "null"}``, and keeps ``anyOf``/``oneOf``/``allOf``, enums, defaults and
descriptions as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from agent.core.errors import ToolError

_DEF_KEYS = ("$defs", "definitions")


def _lookup(root: dict[str, Any], ref: str) -> Any:
    """The target of a local JSON pointer such as ``#/$defs/Address``; None when it is not local or not found."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if node.get("nullable") is not True:
        node.pop("nullable", None)
        return node
    rest = {k: v for k, v in node.items() if k != "nullable"}
    kind = rest.get("type")
    if isinstance(kind, str) and set(rest) <= {"type", "description", "default", "format"}:
        return {**rest, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**rest, "type": [*kind, *(["null"] if "null" not in kind else [])]}
    keep: dict[str, Any] = {k: rest.pop(k) for k in ("description", "default") if k in rest}
    return {"anyOf": [rest, {"type": "null"}], **keep}


def convert_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A self-contained object schema equivalent to ``schema`` (see the module docstring)."""
    root = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    recursive: set[str] = set()

    def walk(node: Any, active: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [walk(item, active) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in active:  # a recursive structure: keep the reference, and the definitions it needs
                recursive.add(ref)
                return {"$ref": ref}
            target = _lookup(root, ref)
            if isinstance(target, dict):
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                merged = {**copy.deepcopy(target), **siblings}
                return walk(merged, (*active, ref))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DEF_KEYS or key == "$schema":
                continue
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                out[key] = {name: walk(sub, active) for name, sub in value.items()}
            else:
                out[key] = walk(value, active)
        return _nullable(out)

    converted = walk(root, ())
    if recursive:  # keep every definition a remaining $ref can reach (converted too)
        for key in _DEF_KEYS:
            if isinstance(root.get(key), dict):
                converted[key] = {name: walk(sub, (f"#/{key}/{name}",)) for name, sub in root[key].items()}
    converted.setdefault("type", "object")
    if converted.get("type") == "object":
        converted.setdefault("properties", {})
    return converted


class ArgumentValidator:
    """Checks arguments against a converted schema with jsonschema; raises ToolError listing what is wrong."""

    def __init__(self, name: str, schema: dict[str, Any]) -> None:
        from jsonschema import Draft202012Validator

        self.name = name
        self._validator = Draft202012Validator(schema)

    def __call__(self, arguments: Any) -> dict[str, Any]:
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ToolError(f"arguments for {self.name} must be a JSON object, not {type(arguments).__name__}")
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: (list(e.absolute_path), e.message))
        if not errors:
            return arguments
        problems = []
        for err in errors[:5]:
            where = ".".join(str(p) for p in err.absolute_path) or "(arguments)"
            problems.append(f"{where}: {err.message[:160]}")
        more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
        raise ToolError(f"invalid arguments for {self.name}: " + "; ".join(problems) + more)
