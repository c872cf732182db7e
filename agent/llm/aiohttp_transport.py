"""An ``httpx`` transport that sends requests through aiohttp.

Why: httpx's own connection pool (httpcore) costs about 2.4 ms of CPU per request at 64 concurrent requests (it walks
and polls every pooled connection on each request and release), and a batch becomes bound by that rather than by the
model. aiohttp's pool and C parser do the same wire work for about a fifth of that (bench/batch.py has the figures).
httpx keeps the API above it: requests, responses, headers, timeouts and its exception types, so ``transport.py`` and
its error handling do not change.

aiohttp's exceptions are mapped onto httpx's here, precisely: a refused connection must read "connection refused",
not "connect timed out", and a connection dropped mid-body must be retryable.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager

import aiohttp
import httpx


@contextmanager
def _as_httpx_errors(request: httpx.Request | None) -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except (TimeoutError, aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable, DNS: the OSError is its cause
        raise httpx.ConnectError(str(exc), request=request) from exc.os_error
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.ClientResponseError as exc:  # a malformed status line or headers
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.ClientError as exc:  # ClientOSError and the rest of the connection family
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc


class _ResponseBody(httpx.AsyncByteStream):
    """The body as it arrives; closing it early drops the connection, which stops the server's generation."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()  # back to the pool when the body was read whole, else the connection is closed


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one aiohttp session (created in the running loop on first use), up to ``max_connections``.

    ``tls`` verifies https servers (None: aiohttp's default context); ``env_proxy`` routes requests through the
    proxy named by the environment, as httpx does by default.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        tls: ssl.SSLContext | None = None,
        env_proxy: bool = True,
        keepalive_s: float = 30.0,
    ) -> None:
        self._max_connections = max_connections
        self._tls = tls
        self._env_proxy = env_proxy
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                ssl=self._tls or True,
                keepalive_timeout=self._keepalive_s,
            )
            # httpx decodes content-encoding and sets every header itself; proxies come from the environment
            # (HTTPS_PROXY, NO_PROXY) unless the caller says otherwise
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=self._env_proxy,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _as_httpx_errors(request):
            response = await self._get_session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, timeout: dict[str, float | None]
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One whole-body POST without building httpx's request and response objects (the per-call hot path:
        a batch's every question). Errors are httpx's, as for :meth:`handle_async_request`; the body is raw (the
        caller decodes a Content-Encoding)."""
        key = (timeout.get("connect"), timeout.get("read"))
        limits = self._timeouts.get(key)
        if limits is None:
            limits = self._timeouts[key] = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1])
        with _as_httpx_errors(None):
            async with self._get_session().request(
                "POST", url, headers=headers, data=body, allow_redirects=False, compress=None, timeout=limits
            ) as response:
                return response.status, response.headers, await response.read()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
