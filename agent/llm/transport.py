"""The HTTP layer: the only module that knows about httpx (and, through :mod:`agent.llm.aiohttp_transport`, aiohttp).

It turns one request into one JSON document or one stream of SSE events, and every failure into a typed
:class:`EndpointError` that says whether a retry may help and how long the server asked us to wait. Retries,
concurrency limits and replica choice live above this module, so the transport can change without touching them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from agent.core.errors import EndpointError, EndpointTimeout, EndpointUnreachable
from agent.core.secrets import redact

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 10.0
    read_s: float = 300.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_s, read=self.read_s, write=self.read_s, pool=None)


class RetryableError(EndpointError):
    """A failure that a later attempt may not meet (429, 5xx, dropped connection, malformed body)."""

    def __init__(self, message: str, *, url: str, status: int | None = None, retry_after_s: float | None = None):
        super().__init__(message, url=url, status=status, retryable=True)
        self.retry_after_s = retry_after_s


class StreamCut(RetryableError):
    """The SSE stream ended before ``[DONE]`` or a finish reason."""


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from LLM servers; fall back to our own backoff


def _error_detail(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)[:300]
        return str(error)[:300]
    return str(data)[:300]


def _connect_reason(exc: BaseException) -> str:
    """Name the OS-level cause (refused, no route, DNS) that httpx wraps as "All connection attempts failed"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        seen = seen.__cause__ or seen.__context__
    return str(exc) or "cannot connect"


def _is_loopback(url: str) -> bool:
    """A server on this machine (the embedded llama.cpp, a local vLLM): never reached through a proxy."""
    host = httpx.URL(url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpEndpoint:
    """One base URL over one ``httpx.AsyncClient`` (keep-alive connections up to ``max_connections``).

    The wire underneath is aiohttp (see :mod:`agent.llm.aiohttp_transport` for why); ``transport`` is injectable, as in
    httpx itself, so tests can swap the network out when they must.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        timeouts: Timeouts = Timeouts(),
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        all_headers = {"User-Agent": "lodestar/0.1", **(headers or {})}
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        from agent.llm.aiohttp_transport import AiohttpTransport  # aiohttp takes 0.2 s to import: only when needed

        # loading the CA bundle costs ~50 ms: only for https, with httpx's certifi-based defaults
        tls = httpx.create_ssl_context() if self.base_url.startswith("https:") else None
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=all_headers,
            timeout=timeouts.to_httpx(),
            transport=transport
            or AiohttpTransport(
                max_connections=max(1, max_connections), tls=tls, env_proxy=not _is_loopback(self.base_url)
            ),
        )

    def __repr__(self) -> str:  # never shows headers: they hold the key
        return f"HttpEndpoint({self.base_url!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _translate(self, exc: httpx.HTTPError, path: str) -> EndpointError:
        url = self._url(path)
        if isinstance(exc, httpx.ConnectTimeout):
            return EndpointUnreachable(f"{url}: connect timed out", url=url, retryable=True)
        if isinstance(exc, httpx.ConnectError):
            return EndpointUnreachable(redact(f"{url}: {_connect_reason(exc)}"), url=url, retryable=True)
        if isinstance(exc, httpx.TimeoutException):
            return EndpointTimeout(f"{url}: no answer within the read timeout", url=url, retryable=True)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            return RetryableError(f"{url}: connection dropped ({type(exc).__name__})", url=url)
        return EndpointError(redact(f"{url}: {type(exc).__name__}: {exc}"), url=url)

    def _check_status(self, response: httpx.Response, body: bytes, path: str) -> None:
        if response.status_code < 400:
            self._check_api(response, path)
            return
        url = self._url(path)
        detail = redact(_error_detail(body))
        message = f"{url}: HTTP {response.status_code}" + (f": {detail}" if detail else "")
        if response.status_code in RETRYABLE_STATUS:
            raise RetryableError(
                message, url=url, status=response.status_code, retry_after_s=_retry_after(response.headers)
            )
        raise EndpointError(message, url=url, status=response.status_code)

    def _check_api(self, response: httpx.Response, path: str) -> None:
        """A success that is a web page, not an API reply: a wrong base_url (a site's front page, a proxy's login).
        Retrying cannot help, so it is a plain EndpointError that says what to fix."""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            url = self._url(path)
            raise EndpointError(
                f"{url}: answered with a web page ({kind}), not an OpenAI-compatible API: check base_url "
                "(it usually ends in /v1)",
                url=url,
                status=response.status_code,
            )

    async def get_json(self, path: str) -> Any:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from None
        self._check_status(response, response.content, path)
        return self._decode(response.content, path)

    async def post_json(self, path: str, payload: dict[str, Any]) -> Any:
        try:
            response = await self._client.post(path, json=payload)
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from None
        self._check_status(response, response.content, path)
        return self._decode(response.content, path)

    def _decode(self, body: bytes, path: str) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            url = self._url(path)
            raise RetryableError(f"{url}: the server sent a malformed JSON body", url=url) from None

    @asynccontextmanager
    async def stream_sse(self, path: str, payload: dict[str, Any]) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """POST and yield the decoded ``data:`` events until ``[DONE]``.

        Leaving the ``async with`` block (normally, on error or on cancellation) closes the response, so a cancelled
        answer stops the server's generation instead of leaking a connection.
        """
        url = self._url(path)
        try:
            async with self._client.stream("POST", path, json=payload) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    self._check_status(response, body, path)
                self._check_api(response, path)
                yield self._events(response, url)
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from None

    async def _events(self, response: httpx.Response, url: str) -> AsyncIterator[dict[str, Any]]:
        done = False
        lines = response.aiter_lines()
        async for line in lines:
            if not line.startswith("data:"):
                continue  # comments, event names and keep-alives
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                async for _ in lines:  # finish the body so the connection can be reused
                    pass
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise RetryableError(f"{url}: malformed JSON in the event stream", url=url) from None
            if isinstance(event, dict) and "error" in event:
                raise EndpointError(f"{url}: {redact(_error_detail(data.encode()))}", url=url)
            yield event
        if not done:
            raise StreamCut(f"{url}: the stream ended before [DONE]", url=url)
