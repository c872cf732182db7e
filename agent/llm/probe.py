"""The capability probe: tiny requests, one feature at a time, against an endpoint's first replica.

Lives apart from :mod:`agent.llm.capabilities` (the cached flags) because it drives an :class:`LLM`, which itself
reads those flags.
"""

from __future__ import annotations

import json
import time
from typing import Any

from agent.core.errors import RETRYABLE_STATUS, EndpointError, EndpointTimeout, EndpointUnreachable, describe
from agent.llm.capabilities import Capabilities
from agent.llm.client import LLM
from agent.llm.pool import Balancer, RetryPolicy

_PING = [{"role": "user", "content": "Reply with the word OK."}]
_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Return the current time.",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}


def _context_length(models: Any, model: str) -> int | None:
    """Read the context window from ``/v1/models`` in the shapes vLLM, llama.cpp and others use."""
    entries = models.get("data", []) if isinstance(models, dict) else []
    chosen = next((m for m in entries if isinstance(m, dict) and m.get("id") == model), None)
    for entry in [chosen, *entries]:
        if not isinstance(entry, dict):
            continue
        for source in (entry, entry.get("meta") or {}):
            for key in ("max_model_len", "context_length", "context_window", "n_ctx", "n_ctx_train"):
                value = source.get(key)
                if isinstance(value, int) and value > 0:
                    return value
    return None


def _transient(exc: EndpointError) -> bool:
    """A failure that says nothing about the feature: the server was loading, overloaded, slow or unreachable."""
    return (
        exc.retryable
        or isinstance(exc, (EndpointUnreachable, EndpointTimeout))
        or (exc.status is not None and exc.status in RETRYABLE_STATUS and not exc.refused)
    )


async def _check(name: str, notes: dict[str, str], probe: Any, unsure: list[str] | None = None) -> bool:
    """The probe's verdict on one feature. A transient failure is no verdict: the feature keeps its optimistic
    default, is listed in ``unsure`` and is probed again next time, instead of being cached as missing."""
    try:
        return bool(await probe())
    except EndpointError as exc:
        if unsure is not None and _transient(exc):
            unsure.append(name)
            notes[name] = f"not known yet (the probe met a transient failure: {str(exc)[:160]})"
            return bool(Capabilities.model_fields[name].default)
        notes[name] = str(exc)[:200]
        return False
    except Exception as exc:  # a probe must never crash the caller; record why instead
        notes[name] = describe(exc, 200)
        return False


async def probe(llm: LLM) -> Capabilities:
    """Probe the first replica of ``llm`` with tiny requests, one feature at a time."""
    replica = llm.balancer.replicas[0]
    notes: dict[str, str] = {}
    # untraced, and nearly without retries: a feature the server rejects must not cost a retry storm
    quiet = LLM(llm.role, Balancer([replica], RetryPolicy(max_retries=1, budget_s=10.0, base_s=0.2)))
    models = await replica.http.get_json("/models")  # raises EndpointError: an unreachable server is not "no caps"

    async def streaming() -> bool:
        async with quiet.stream(_PING, max_tokens=4, temperature=0) as stream:
            await stream.text()
        return stream.completion is not None

    async def logprobs() -> bool:
        done = await quiet.complete(_PING, max_tokens=1, temperature=0, logprobs=True, top_logprobs=5)
        tops = done.first_token_top_logprobs()
        if not tops or len(tops) < 2:
            notes["logprobs"] = "no top_logprobs in the response"
            return False
        return True

    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    formats: dict[str, dict[str, Any]] = {
        "json_schema": {"type": "json_schema", "json_schema": {"name": "probe", "schema": schema}},
        "json_object": {"type": "json_object"},
        "json_object_schema": {"type": "json_object", "schema": schema},
    }

    async def json_mode(kind: str) -> bool:
        messages = [{"role": "user", "content": 'Reply with the JSON object {"ok": true}.'}]
        done = await quiet.complete(messages, max_tokens=48, temperature=0, response_format=formats[kind])
        try:
            json.loads(done.text)
        except ValueError:
            if done.finish_reason == "length" and done.text.lstrip().startswith("{"):
                notes[kind] = "honoured, but this model rambles until max_tokens without a schema"
                return True
            notes[kind] = "accepted, but the reply was not JSON"
            return False
        return True

    async def tool_calls() -> bool:
        messages = [{"role": "user", "content": "What time is it in UTC? Use the tool."}]
        done = await quiet.complete(
            messages,
            max_tokens=48,
            temperature=0,
            tools=[_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
        )
        if not done.tool_calls or done.tool_calls[0].function.name != "get_time":
            notes["tool_calls"] = "accepted, but no tool call came back"
            return False
        try:  # the server does tool calls; whether this model fills the arguments well is the caller's problem
            json.loads(done.tool_calls[0].function.arguments or "{}", strict=False)
        except ValueError:
            notes["tool_calls"] = "supported, but the model's arguments were not valid JSON"
        return True

    unsure: list[str] = []
    return Capabilities(
        streaming=await _check("streaming", notes, streaming, unsure),
        logprobs=await _check("logprobs", notes, logprobs, unsure),
        json_schema=await _check("json_schema", notes, lambda: json_mode("json_schema"), unsure),
        json_object=await _check("json_object", notes, lambda: json_mode("json_object"), unsure),
        json_object_schema=await _check("json_object_schema", notes, lambda: json_mode("json_object_schema"), unsure),
        tool_calls=await _check("tool_calls", notes, tool_calls, unsure),
        unsure=unsure,
        context_length=_context_length(models, llm.model),
        probed=True,
        probed_at=time.time(),
        endpoint=replica.url,
        model=llm.model,
        notes=notes,
    )
