"""The HTTP layer: the only module that knows about httpx (and, through :mod:`agent.llm.aiohttp_transport`, aiohttp).

It turns one request into one JSON document or one stream of SSE events, and every failure into a typed
:class:`EndpointError` that says whether a retry may help and how long the server asked us to wait. Retries,
concurrency limits and replica choice live above this module, so the transport can change without touching them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from agent.llm.aiohttp_transport import AiohttpTransport

from agent.core.errors import EndpointError, EndpointTimeout, EndpointUnreachable
from agent.core.secrets import redact

M = TypeVar("M", bound=BaseModel)


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


def _retry_after(headers: Mapping[str, str]) -> float | None:
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
        # loading the CA bundle costs ~50 ms: only for https, with httpx's certifi-based defaults
        tls = httpx.create_ssl_context() if self.base_url.startswith("https:") else None
        self._aiohttp: AiohttpTransport | None = None  # ours: then POSTs take its direct path (see _post)
        self._transport: httpx.AsyncBaseTransport
        if transport is None:
            from agent.llm.aiohttp_transport import AiohttpTransport  # aiohttp takes 0.2 s to import: only if needed

            self._transport = self._aiohttp = AiohttpTransport(
                max_connections=max(1, max_connections), tls=tls, env_proxy=not _is_loopback(self.base_url)
            )
        else:
            self._transport = transport
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=all_headers, timeout=timeouts.to_httpx(), transport=self._transport
        )
        # What httpx's client would send with a JSON POST, computed once (see _post)
        self._post_headers = httpx.Headers({**self._client.headers, "Content-Type": "application/json"})
        self._post_items = self._post_headers.multi_items()
        self._timeout = timeouts.to_httpx().as_dict()

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

    def _check_status(self, status: int, headers: Mapping[str, str], body: bytes, path: str) -> None:
        if status < 400:
            self._check_api(headers, path, status)
            return
        url = self._url(path)
        detail = redact(_error_detail(body))
        message = f"{url}: HTTP {status}" + (f": {detail}" if detail else "")
        error = EndpointError(message, url=url, status=status)  # its status class is decided there, once
        if error.retryable:
            raise RetryableError(message, url=url, status=status, retry_after_s=_retry_after(headers))
        raise error

    def _check_api(self, headers: Mapping[str, str], path: str, status: int) -> None:
        """A success that is a web page, not an API reply: a wrong base_url (a site's front page, a proxy's login).
        Retrying cannot help, so it is a plain EndpointError that says what to fix."""
        kind = (headers.get("content-type") or headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            url = self._url(path)
            raise EndpointError(
                f"{url}: answered with a web page ({kind}), not an OpenAI-compatible API: check base_url "
                "(it usually ends in /v1)",
                url=url,
                status=status,
            )

    async def get_json(self, path: str) -> Any:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from None
        self._check_status(response.status_code, response.headers, response.content, path)
        return self._decode(response.content, path)

    async def post_json(self, path: str, payload: dict[str, Any]) -> Any:
        return self._decode(await self.post_bytes(path, json.dumps(payload).encode()), path)

    async def post_model(self, path: str, body: bytes, model: type[M]) -> M | None:
        """POST a JSON ``body`` and read the reply as ``model`` in one pass of pydantic's JSON parser (the per-call
        hot path); None when the reply is JSON but not a ``model``. Malformed JSON is retryable, as in post_json."""
        raw = await self.post_bytes(path, body)
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                raise self._malformed(path) from None
            return None

    async def post_bytes(self, path: str, body: bytes) -> bytes:
        """POST ``body`` (JSON already encoded); the reply's body, or the EndpointError that its status means."""
        try:
            status, headers, raw = await self._post(path, body)
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from None
        self._check_status(status, headers, raw, path)
        return raw

    async def _post(self, path: str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        """POST straight to the transport: the request httpx's client would send, without its per-call work that an
        API call does not use (URL merging and parsing, auth and redirect machinery, response wrapping): most of the
        client's cost per call (bench/client_overhead.py). Cookies still round-trip through the client's jar."""
        url = self._url(path)
        if self._aiohttp is not None and not self._client.cookies:  # the hot path: aiohttp adds Host, Content-Length
            status, got, raw = await self._aiohttp.post(url, self._post_items, body, self._timeout)
            if "set-cookie" not in got and got.get("content-encoding", "identity") == "identity":
                return status, got, raw
            request = httpx.Request("POST", url, headers=self._post_headers, content=body)
            response = httpx.Response(status, headers=list(got.items()), stream=httpx.ByteStream(raw), request=request)
        else:  # a test's transport, or cookies to send (a load balancer's sticky session): the jar picks them
            request = httpx.Request(
                "POST", url, headers=self._post_headers, content=body, extensions={"timeout": self._timeout}
            )
            if self._client.cookies:
                self._client.cookies.set_cookie_header(request)
            response = await self._transport.handle_async_request(request)
            response.request = request
        try:
            content = await response.aread()  # decodes a Content-Encoding, as the client does
        finally:
            await response.aclose()
        if "set-cookie" in response.headers:
            self._client.cookies.extract_cookies(response)
        return response.status_code, response.headers, content

    async def post_form(self, path: str, data: dict[str, str], *, accept: str) -> Any:
        """POST ``application/x-www-form-urlencoded`` (a SPARQL query) and decode the JSON answer."""
        try:
            # absolute: httpx would add a slash to base_url, and a SPARQL endpoint URL is exact
            response = await self._client.post(self._url(path), data=data, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise self._translate(exc, path) from None
        self._check_status(response.status_code, response.headers, response.content, path)
        return self._decode(response.content, path)

    def _decode(self, body: bytes, path: str) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            raise self._malformed(path) from None

    def _malformed(self, path: str) -> RetryableError:
        url = self._url(path)
        return RetryableError(f"{url}: the server sent a malformed JSON body", url=url)

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
                    self._check_status(response.status_code, response.headers, body, path)
                self._check_api(response.headers, path, response.status_code)
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
