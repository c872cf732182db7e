"""Fake OpenAI-compatible chat server for integration tests and benchmarks.

Why a real server: the agent's HTTP stack (pooling, keep-alive, retries, timeouts, SSE parsing) is part
of what we test, and transport-level mocks would hide exactly those bugs. This server speaks real
HTTP/1.1 on loopback with the standard library only, on its own asyncio loop in a daemon thread, so the
same object serves sync tests, async tests and (through the CLI) subprocesses and benchmarks.

Responses are scripted by rules, first match wins::

    with FakeOpenAIServer() as srv:
        srv.reply("Yes", contains="Is it true", times=1)
        srv.reply(Reply.error(429, retry_after=0.05), model="big-model")
        srv.fail_every(10, status=503)
        ...  # point the client at srv.base_url
        assert srv.max_in_flight <= 8

CLI: ``python -m agent.testing.fake_openai --port 0 --latency 0.2`` prints the base_url, serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import itertools
import json
import random
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["FakeOpenAIServer", "RecordedRequest", "Reply", "Rule", "fake_openai_server", "main"]

Fault: TypeAlias = Literal["malformed_json", "cut_stream", "drop"]
ReplySpec: TypeAlias = "Reply | str | Sequence[Reply | str] | Callable[[dict[str, Any], int], Reply | str]"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "api-key", "x-api-key"})
_ALT_TOKENS = (" the", ",", ".")  # filler alternatives for generated top_logprobs
_MALFORMED_BODY = b'{"choices": ['
_READ_LIMIT = 16 * 1024 * 1024


# --------------------------------------------------------------------------- scripting


@dataclass
class Reply:
    """One scripted response; the defaults give a plain 200 "stop" completion.

    ``content=None`` means "" (null when the reply has tool calls). Latency: ``delay_s`` before the status
    line (None: the server's ``latency``), ``first_byte_delay_s`` between headers and body, ``chunk_delay_s``
    between stream events (None: the server's default). ``fault``: "malformed_json" (200, body not JSON),
    "cut_stream" (close after ``cut_after`` SSE events, or half a JSON body) or "drop" (close, no response).
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # {"name", "arguments"} shorthand or OpenAI form
    finish_reason: str | None = None  # default: "tool_calls" if tool_calls else "stop"
    top_logprobs: dict[str, float] | None = None  # scripted alternatives for the first token
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    retry_after: float | str | None = None  # Retry-After header of an error reply
    headers: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    cut_after: int = 2
    delay_s: float | None = None
    first_byte_delay_s: float = 0.0
    chunk_delay_s: float | None = None
    chunks: int | None = None  # content chunks when streaming (None: one per token)
    ignore_max_tokens: bool = False  # a misbehaving server: the whole content whatever max_tokens says

    def __post_init__(self) -> None:
        if self.tool_calls:
            self.tool_calls = [_normalize_tool_call(tc) for tc in self.tool_calls]

    @classmethod
    def error(
        cls,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | str | None = None,
        type: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""
        return cls(status=status, error_message=message, error_type=type, retry_after=retry_after, **kwargs)

    @classmethod
    def tool_call(
        cls,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        id: str | None = None,
        content: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        """A reply with one function call; ``arguments`` may be a dict or a JSON string."""
        return cls(content=content, tool_calls=[{"id": id, "name": name, "arguments": arguments or {}}], **kwargs)


@dataclass
class Rule:
    """Maps matching requests to replies; exhausted after ``times`` matches (None: never).

    Every given matcher must hold; ``match`` gets the JSON request body. Rules without ``path`` only see
    chat completions; with one (e.g. "/v1/models", to fault it) only that path. ``reply`` is a Reply, a
    content string, a list (cycled, one item per match) or a callable ``(body, call_index) -> Reply | str``.
    """

    reply: ReplySpec = "OK"
    match: Callable[[dict[str, Any]], bool] | None = None
    times: int | None = None
    contains: str | None = None  # anywhere in the message contents
    system_contains: str | None = None
    last_user_contains: str | None = None
    model: str | None = None
    path: str | None = None
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, path: str, body: dict[str, Any]) -> bool:
        if self.exhausted or (path != self.path if self.path else not path.endswith("/chat/completions")):
            return False
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        texts = [(m.get("role"), _text(m.get("content"))) for m in messages]
        users = [t for role, t in texts if role == "user"]
        checks = [
            self.contains is None or self.contains in "\n".join(t for _, t in texts),
            self.system_contains is None
            or any(role in ("system", "developer") and self.system_contains in t for role, t in texts),
            self.last_user_contains is None or (bool(users) and self.last_user_contains in users[-1]),
            self.model is None or body.get("model") == self.model,
        ]
        return all(checks) and (self.match is None or bool(self.match(body)))

    def take(self, body: dict[str, Any]) -> Reply:
        """Consume one match and produce its reply."""
        index, self.hits = self.hits, self.hits + 1
        spec: Any = self.reply
        if isinstance(spec, (list, tuple)):
            spec = spec[index % len(spec)]
        elif callable(spec):
            spec = spec(body, index)
        return _as_reply(spec)


class RecordedRequest(dict):
    """A received request: keys method, path, headers (lower-case names), json, time (monotonic), client.

    A plain dict for easy asserting, whose repr redacts credentials so failure output never shows keys.
    """

    @property
    def path(self) -> str:
        return self["path"]

    @property
    def headers(self) -> dict[str, str]:
        return self["headers"]

    @property
    def json(self) -> Any:
        return self["json"]

    def __repr__(self) -> str:
        headers = {k: "<redacted>" if k in _SECRET_HEADERS else v for k, v in self["headers"].items()}
        return f"RecordedRequest({dict(self, headers=headers)!r})"


def _as_reply(spec: Reply | str | None) -> Reply:
    if isinstance(spec, Reply):
        return spec
    if isinstance(spec, str):
        return Reply(content=spec)
    raise TypeError(f"a reply must be a Reply or a str, not {type(spec).__name__}")


def _normalize_tool_call(tc: dict[str, Any]) -> dict[str, Any]:
    fn = tc.get("function", tc)
    args = fn.get("arguments", {})
    args = args if isinstance(args, str) else json.dumps(args)
    return {"id": tc.get("id"), "type": "function", "function": {"name": fn["name"], "arguments": args}}


def _text(content: Any) -> str:
    """Message content as text, including the list-of-parts form."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _tokens(text: str) -> list[str]:
    """Whitespace-led word "tokens" (" world") whose concatenation is exactly ``text``."""
    parts = re.findall(r"\s*\S+", text)
    rest = text[sum(map(len, parts)) :]
    return parts + [rest] if rest else parts


def _group(tokens: list[str], n: int | None) -> list[list[str]]:
    """Split tokens into ``n`` near-equal contiguous groups (one per token when n is None)."""
    if not n or n >= len(tokens):
        return [[t] for t in tokens]
    size, extra = divmod(len(tokens), n)
    bounds = [0]
    for i in range(n):
        bounds.append(bounds[-1] + size + (i < extra))
    return [tokens[a:b] for a, b in itertools.pairwise(bounds)]


def _logprob_entries(tokens: list[str], scripted: dict[str, float] | None, top_n: int) -> list[dict[str, Any]]:
    """OpenAI ``logprobs.content``; scripted alternatives apply to the first token, the rest are plausible."""

    def item(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": None}

    entries = []
    for i, token in enumerate(tokens):
        if i == 0 and scripted:
            logprob = scripted.get(token, scripted.get(token.strip(), -0.01))
            alternatives = {token: logprob, **scripted}
        else:
            logprob = -0.01
            others = [a for a in _ALT_TOKENS if a != token]
            alternatives = {token: logprob, **{a: -4.0 - j for j, a in enumerate(others)}}
        top = sorted(alternatives.items(), key=lambda kv: -kv[1])[: max(top_n, 0)]
        entries.append({**item(token, logprob), "top_logprobs": [item(t, lp) for t, lp in top]})
    return entries


def _error_body(status: int, message: str | None, type_: str | None) -> bytes:
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    error = {
        "message": message or f"fake server error {status}",
        "type": type_ or _ERROR_TYPES.get(status, default_type),
        "param": None,
        "code": "rate_limit_exceeded" if status == 429 else None,
    }
    return json.dumps({"error": error}).encode()


def _seconds_header(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --------------------------------------------------------------------------- HTTP plumbing


@dataclass
class _Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.version == "HTTP/1.1" and self.headers.get("connection", "").lower() != "close"


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """Parse one HTTP/1.x request (Content-Length or chunked body); None on EOF, ValueError on garbage."""
    line = b"\r\n"
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLFs between keep-alive requests
        line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError(f"bad request line: {line!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # trailers
    else:
        body = bytearray(await reader.readexactly(int(headers.get("content-length") or 0)))
    return _Request(method.upper(), target.split("?", 1)[0], version.upper(), headers, bytes(body))


class _Responder:
    """Writes one response; streams use chunked encoding so the connection survives them (keep-alive)."""

    def __init__(self, writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        self.writer, self.keep_alive, self.chunked = writer, keep_alive, False

    async def head(self, status: int, headers: dict[str, str], length: int | None = None) -> None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        fields = {"Server": "fake-openai", "Connection": "keep-alive" if self.keep_alive else "close"}
        if length is not None:
            fields["Content-Length"] = str(length)
        elif self.keep_alive:
            fields["Transfer-Encoding"] = "chunked"
            self.chunked = True
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in {**fields, **headers}.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        await self.writer.drain()

    async def end(self) -> None:
        if self.chunked:
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()

    async def full(self, status: int, body: bytes, headers: dict[str, str], first_byte_delay: float = 0.0) -> bool:
        """A complete Content-Length response; returns whether to keep the connection."""
        await self.head(status, {"Content-Type": "application/json", **headers}, len(body))
        if first_byte_delay:
            await asyncio.sleep(first_byte_delay)
        await self.send(body)
        return self.keep_alive


@dataclass
class _Completion:
    id: str
    created: int
    model: str
    content: str | None
    tokens: list[str]
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    logprobs: list[dict[str, Any]] | None
    usage: dict[str, int]


# --------------------------------------------------------------------------- the server


class FakeOpenAIServer:
    """Scriptable OpenAI-compatible server on loopback (see the module docstring).

    Capability flags emulate weaker backends: ``supports_tools=False`` answers requests carrying ``tools``
    with 400, ``supports_json_schema=False`` does so for ``response_format`` json_schema, and
    ``supports_logprobs=False`` silently returns ``logprobs: null``. Observability attributes
    (``requests``, ``request_count``, ``in_flight``, ``max_in_flight``) are updated by the server thread.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "fake-model",
        context_length: int = 2048,
        latency: float = 0.0,
        chunk_delay_s: float = 0.0,
        stream_chunks: int | None = None,
        default_reply: Reply | str = "OK",
        supports_tools: bool = True,
        supports_logprobs: bool = True,
        supports_json_schema: bool = True,
    ) -> None:
        self.host, self.port, self._requested_port = host, port, port
        self.model, self.context_length = model, context_length
        self.latency, self.chunk_delay_s, self.stream_chunks = latency, chunk_delay_s, stream_chunks
        self.default_reply = _as_reply(default_reply)
        self.supports_tools, self.supports_logprobs = supports_tools, supports_logprobs
        self.supports_json_schema = supports_json_schema
        self.requests: list[RecordedRequest] = []  # every request, any path, in arrival order
        self.request_count = 0  # chat-completion requests (the count fail_every uses)
        self.in_flight = self.max_in_flight = 0  # open chat requests, measured at the server
        self._lock = threading.RLock()  # rules and fault injectors are edited from the test's thread
        self._rules: list[Rule] = []
        self._every: tuple[int, Reply] | None = None
        self._random: tuple[float, tuple[int, ...], random.Random, float | str | None] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # ---- lifecycle

    def start(self) -> FakeOpenAIServer:
        """Bind and serve on a daemon thread; returns self once listening (``port`` is then the real one)."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        outcome: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=(ready, outcome), name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait()
        if "error" in outcome:
            self._thread.join()
            self._thread = None
            raise outcome["error"]
        self.port = outcome["port"]
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then join the thread. Idempotent."""
        if self._thread is None:
            return
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already died
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    def _run(self, ready: threading.Event, outcome: dict[str, Any]) -> None:
        loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(
                asyncio.start_server(
                    self._serve_connection, self.host, self._requested_port, backlog=2048, limit=_READ_LIMIT
                )
            )
        except BaseException as exc:
            outcome["error"] = exc
            loop.close()
            ready.set()
            return
        outcome["port"] = server.sockets[0].getsockname()[1]
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown(server))
            loop.close()

    async def _shutdown(self, server: asyncio.Server) -> None:
        server.close()
        for task in list(self._conn_tasks):
            task.cancel()
        await asyncio.gather(*self._conn_tasks, return_exceptions=True)
        await server.wait_closed()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeOpenAIServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ---- scripting

    def add_rule(self, rule: Rule | None = None, /, **kwargs: Any) -> Rule:
        """Append a rule: ``add_rule(Rule(...))`` or ``add_rule(reply=..., contains=..., times=...)``."""
        rule = rule if rule is not None else Rule(**kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def reply(self, reply: ReplySpec, **matchers: Any) -> Rule:
        """Shortcut: ``srv.reply("Yes", contains="?", times=1)``."""
        return self.add_rule(Rule(reply=reply, **matchers))

    def queue(self, *replies: Reply | str) -> Rule:
        """Serve these replies, in order, to the next chat requests, then fall through to later rules."""
        return self.add_rule(Rule(reply=list(replies), times=len(replies)))

    def fail_every(
        self, n: int, status: int = 429, *, retry_after: float | str | None = None, fault: Fault | None = None
    ) -> None:
        """Every n-th chat request (by arrival count) gets this error or fault, ahead of the rules."""
        if n < 1:
            raise ValueError("n must be >= 1")
        reply = Reply(fault=fault) if fault else Reply.error(status, retry_after=retry_after)
        with self._lock:
            self._every = (n, reply)

    def fail_randomly(
        self,
        rate: float,
        statuses: Sequence[int] = (500, 429),
        *,
        seed: int = 0,
        retry_after: float | str | None = None,
    ) -> None:
        """Each chat request fails with probability ``rate``; deterministic for a seed and arrival order."""
        with self._lock:
            self._random = (rate, tuple(statuses), random.Random(seed), retry_after)

    def clear_faults(self) -> None:
        with self._lock:
            self._every = self._random = None

    def reset(self) -> None:
        """Forget rules, fault injectors, recorded requests and counters."""
        with self._lock:
            self._rules.clear()
            self._every = self._random = None
            self.requests.clear()
            self.request_count = self.max_in_flight = 0

    # ---- request handling (server thread)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        peer = writer.get_extra_info("peername")
        try:
            while (request := await _read_request(reader)) is not None:
                if not await self._dispatch(request, writer, peer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or sent garbage: drop the connection
        except asyncio.CancelledError:
            pass  # stop(); not re-raised because asyncio's streams callback would log it
        finally:
            self._conn_tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(self, req: _Request, writer: asyncio.StreamWriter, peer: Any) -> bool:
        out = _Responder(writer, req.keep_alive)
        try:
            body: Any = json.loads(req.body) if req.body else {}
        except ValueError:
            body = None
        self.requests.append(
            RecordedRequest(
                method=req.method, path=req.path, headers=req.headers, json=body, time=time.monotonic(), client=peer
            )
        )
        route = req.path.removeprefix("/v1")
        if req.method == "GET" and route == "/models":
            reply = self._pick_reply(req.path, {}, index=0, chat=False) or Reply()
            return await self._respond(reply, {}, out, chat=False)
        if req.method == "POST" and route == "/chat/completions":
            return await self._chat(req, body, out)
        return await out.full(404, _error_body(404, f"no route {req.method} {req.path}", None), {})

    async def _chat(self, req: _Request, body: Any, out: _Responder) -> bool:
        self.request_count += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if not isinstance(body, dict):
                reply: Reply | None = Reply.error(400, "the request body must be a JSON object")
            elif problem := self._capability_error(body):
                reply = Reply.error(400, problem)
            else:
                reply = self._pick_reply(req.path, body, index=self.request_count, chat=True)
            body = body if isinstance(body, dict) else {}
            return await self._respond(reply or self.default_reply, body, out, chat=True)
        finally:
            self.in_flight -= 1

    def _capability_error(self, body: dict[str, Any]) -> str | None:
        if not self.supports_tools and body.get("tools"):
            return "this server does not support tools"
        if not self.supports_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
            return "response_format type 'json_schema' is not supported"
        return None

    def _pick_reply(self, path: str, body: dict[str, Any], *, index: int, chat: bool) -> Reply | None:
        with self._lock:
            if chat and self._every and index % self._every[0] == 0:
                return self._every[1]
            if chat and self._random:
                rate, statuses, rng, retry_after = self._random
                if rng.random() < rate:
                    status = rng.choice(statuses)
                    return Reply.error(status, retry_after=retry_after if status == 429 else None)
            for rule in self._rules:
                if rule.matches(path, body):
                    return rule.take(body)
        return None

    async def _respond(self, reply: Reply, body: dict[str, Any], out: _Responder, *, chat: bool) -> bool:
        """Apply latency and faults, then send the reply; returns whether to keep the connection."""
        delay = self.latency if reply.delay_s is None else reply.delay_s
        if delay:
            await asyncio.sleep(delay)
        if reply.fault == "drop":
            return False
        headers = dict(reply.headers)
        if reply.status >= 400:
            if reply.retry_after is not None:
                headers["Retry-After"] = _seconds_header(reply.retry_after)
            error = _error_body(reply.status, reply.error_message, reply.error_type)
            return await out.full(reply.status, error, headers, reply.first_byte_delay_s)
        stream = chat and body.get("stream") is True
        if reply.fault == "malformed_json":
            if stream:
                return await self._stream(out, reply, [_MALFORMED_BODY], headers)
            return await out.full(reply.status, _MALFORMED_BODY, headers, reply.first_byte_delay_s)
        if not chat:
            data = json.dumps(self._models_payload()).encode()
        else:
            completion = self._completion(reply, body)
            if stream:
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                groups = _group(completion.tokens, self.stream_chunks if reply.chunks is None else reply.chunks)
                events = [json.dumps(e).encode() for e in _stream_events(completion, groups, include_usage)]
                return await self._stream(out, reply, events, headers)
            data = json.dumps(_completion_payload(completion)).encode()
        if reply.fault == "cut_stream":  # promise the full length, deliver half, hang up
            await out.head(reply.status, {"Content-Type": "application/json", **headers}, len(data))
            await out.send(data[: len(data) // 2])
            return False
        return await out.full(reply.status, data, headers, reply.first_byte_delay_s)

    async def _stream(self, out: _Responder, reply: Reply, events: list[bytes], headers: dict[str, str]) -> bool:
        cut = reply.fault == "cut_stream"
        await out.head(reply.status, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers})
        if reply.first_byte_delay_s:
            await asyncio.sleep(reply.first_byte_delay_s)
        gap = self.chunk_delay_s if reply.chunk_delay_s is None else reply.chunk_delay_s
        for i, event in enumerate(events[: reply.cut_after] if cut else events):
            if i and gap:
                await asyncio.sleep(gap)
            await out.send(b"data: " + event + b"\n\n")
        if cut:
            return False  # close with neither [DONE] nor the terminating chunk
        await out.send(b"data: [DONE]\n\n")
        await out.end()
        return out.keep_alive

    def _models_payload(self) -> dict[str, Any]:
        model = {
            "id": self.model,
            "object": "model",
            "created": 0,
            "owned_by": "fake",
            "meta": {"n_ctx_train": self.context_length},
        }
        return {"object": "list", "data": [model]}

    def _completion(self, reply: Reply, body: dict[str, Any]) -> _Completion:
        content = reply.content if reply.content is not None else (None if reply.tool_calls else "")
        tokens = _tokens(content or "")
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens) and not reply.ignore_max_tokens:
            tokens, finish = tokens[:limit], "length"
            content = "".join(tokens)
        calls = [{**tc, "id": tc["id"] or f"call_{uuid.uuid4().hex[:24]}"} for tc in reply.tool_calls or []]
        logprobs = None
        if body.get("logprobs") and self.supports_logprobs:
            logprobs = _logprob_entries(tokens, reply.top_logprobs, int(body.get("top_logprobs") or 0))
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        prompt = sum(len(_text(m.get("content")).split()) for m in messages)
        generated = len(tokens) + sum(1 + len(tc["function"]["arguments"].split()) for tc in calls)
        return _Completion(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=str(body.get("model") or self.model),
            content=content,
            tokens=tokens,
            tool_calls=calls,
            finish_reason=finish,
            logprobs=logprobs,
            usage={"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated},
        )


def _completion_payload(c: _Completion) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": c.content}
    if c.tool_calls:
        message["tool_calls"] = c.tool_calls
    logprobs = None if c.logprobs is None else {"content": c.logprobs}
    choice = {"index": 0, "message": message, "logprobs": logprobs, "finish_reason": c.finish_reason}
    return {
        "id": c.id,
        "object": "chat.completion",
        "created": c.created,
        "model": c.model,
        "choices": [choice],
        "usage": c.usage,
    }


def _stream_events(c: _Completion, groups: list[list[str]], include_usage: bool) -> Iterator[dict[str, Any]]:
    """OpenAI chunk sequence: role, content pieces, tool-call deltas, finish, then usage if asked."""
    base: dict[str, Any] = {"id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.model}
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": None if c.content is None else ""})
    position = 0
    for group in groups:
        logprobs = None if c.logprobs is None else {"content": c.logprobs[position : position + len(group)]}
        position += len(group)
        yield chunk({"content": "".join(group)}, logprobs=logprobs)
    for i, tc in enumerate(c.tool_calls):
        name, args = tc["function"]["name"], tc["function"]["arguments"]
        yield chunk(
            {
                "tool_calls": [
                    {"index": i, "id": tc["id"], "type": "function", "function": {"name": name, "arguments": ""}}
                ]
            }
        )
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            if piece:
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, finish=c.finish_reason)
    if include_usage:
        yield {**base, "choices": [], "usage": c.usage}


@contextlib.contextmanager
def fake_openai_server(**kwargs: Any) -> Iterator[FakeOpenAIServer]:
    """A started server for the duration of the block (what conftest fixtures wrap)."""
    server = FakeOpenAIServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM, printing the base_url first so that callers can read it."""
    p = argparse.ArgumentParser(prog="python -m agent.testing.fake_openai", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--model", default="fake-model")
    p.add_argument("--context-length", type=int, default=2048)
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    p.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    p.add_argument("--reply", default="OK", help="content of the default reply")
    p.add_argument("--no-tools", action="store_true")
    p.add_argument("--no-logprobs", action="store_true")
    p.add_argument("--no-json-schema", action="store_true")
    p.add_argument("--fail-every", type=int, default=0, help="fail every N-th chat request")
    p.add_argument("--fail-rate", type=float, default=0.0, help="probability of a random failure")
    p.add_argument("--fail-status", type=int, default=429)
    p.add_argument("--retry-after", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    server = FakeOpenAIServer(
        host=args.host,
        port=args.port,
        model=args.model,
        context_length=args.context_length,
        latency=args.latency,
        chunk_delay_s=args.chunk_delay,
        default_reply=args.reply,
        supports_tools=not args.no_tools,
        supports_logprobs=not args.no_logprobs,
        supports_json_schema=not args.no_json_schema,
    )
    if args.fail_every:
        server.fail_every(args.fail_every, args.fail_status, retry_after=args.retry_after)
    if args.fail_rate:
        server.fail_randomly(args.fail_rate, (args.fail_status,), seed=args.seed, retry_after=args.retry_after)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(server.base_url, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
