"""The HTTP layer over a real loopback server: connection shards, streams, and typed errors."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from agent.core.errors import EndpointError, EndpointTimeout, EndpointUnreachable
from agent.llm.transport import HttpEndpoint, RetryableError, Timeouts
from agent.testing.fake_openai import FakeOpenAIServer, Reply

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@asynccontextmanager
async def opened(endpoint: HttpEndpoint) -> AsyncIterator[HttpEndpoint]:
    try:
        yield endpoint
    finally:
        await endpoint.aclose()


@pytest.mark.parametrize("limit", [64, 19, 5])
async def test_every_connection_up_to_the_limit_is_used_at_once(fake_server: FakeOpenAIServer, limit: int) -> None:
    """Requests spread over the client shards: none waits for a connection while another shard has one free."""
    fake_server.reply(Reply(content="ok", delay_s=0.3))
    async with opened(HttpEndpoint(fake_server.base_url, max_connections=limit)) as endpoint:
        # exactly `limit` at once, as the replica's semaphore allows: all must reach the server together
        await asyncio.gather(*(endpoint.post_json("/chat/completions", BODY) for _ in range(limit)))
        assert fake_server.max_in_flight == limit
        fake_server.reset()
        fake_server.reply(Reply(content="ok", delay_s=0.3))
        # more than the limit: the pools queue the surplus, so the server never sees more than `limit`
        await asyncio.gather(*(endpoint.post_json("/chat/completions", BODY) for _ in range(limit + 6)))
        assert fake_server.max_in_flight == limit


async def test_concurrent_streams_each_get_a_connection(fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="one two three", chunk_delay_s=0.1))
    limit = 10

    async def stream() -> str:
        async with endpoint.stream_sse("/chat/completions", {**BODY, "stream": True}) as events:
            return "".join([e["choices"][0]["delta"].get("content") or "" async for e in events])

    async with opened(HttpEndpoint(fake_server.base_url, max_connections=limit)) as endpoint:
        texts = await asyncio.gather(*(stream() for _ in range(limit)))
        assert set(texts) == {"one two three"}
        assert fake_server.max_in_flight == limit


async def test_a_cut_stream_is_a_retryable_error(fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="one two three", fault="cut_stream", cut_after=1))
    async with opened(HttpEndpoint(fake_server.base_url)) as endpoint:
        with pytest.raises(RetryableError, match="connection dropped"):
            async with endpoint.stream_sse("/chat/completions", {**BODY, "stream": True}) as events:
                async for _ in events:
                    pass


async def test_status_codes_become_typed_errors(fake_server: FakeOpenAIServer) -> None:
    async with opened(HttpEndpoint(fake_server.base_url, api_key="sk-secret-in-transport")) as endpoint:
        fake_server.reply(Reply(status=429, headers={"Retry-After": "2"}))
        with pytest.raises(RetryableError) as busy:
            await endpoint.post_json("/chat/completions", BODY)
        assert busy.value.status == 429 and busy.value.retry_after_s == 2.0
        fake_server.reset()
        fake_server.reply(Reply(status=400, content="bad request"))
        with pytest.raises(EndpointError) as bad:
            await endpoint.post_json("/chat/completions", BODY)
        assert not isinstance(bad.value, RetryableError) and bad.value.status == 400
        assert "sk-secret-in-transport" not in str(bad.value) and "sk-secret-in-transport" not in repr(endpoint)


async def test_nobody_listening_is_unreachable() -> None:
    async with opened(HttpEndpoint("http://127.0.0.1:9/v1")) as endpoint:
        with pytest.raises(EndpointUnreachable, match="127.0.0.1:9"):
            await endpoint.get_json("/models")


@pytest.mark.parametrize(
    ("fault", "message"), [("drop", "connection dropped"), ("malformed_json", "malformed JSON body")]
)
async def test_a_broken_reply_is_retryable(fake_server: FakeOpenAIServer, fault: str, message: str) -> None:
    fake_server.reply(Reply(fault=fault))
    async with opened(HttpEndpoint(fake_server.base_url)) as endpoint:
        with pytest.raises(RetryableError, match=message):
            await endpoint.post_json("/chat/completions", BODY)


async def test_a_silent_server_is_a_read_timeout(fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="late", delay_s=2.0))
    async with opened(HttpEndpoint(fake_server.base_url, timeouts=Timeouts(connect_s=1.0, read_s=0.2))) as endpoint:
        with pytest.raises(EndpointTimeout, match="read timeout"):
            await endpoint.post_json("/chat/completions", BODY)


async def test_leaving_a_stream_early_closes_it_at_the_server(fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content=" ".join(f"w{i}" for i in range(200)), chunk_delay_s=0.02))
    async with opened(HttpEndpoint(fake_server.base_url)) as endpoint:
        async with endpoint.stream_sse("/chat/completions", {**BODY, "stream": True}) as events:
            async for _ in events:
                break
        deadline = asyncio.get_running_loop().time() + 5
        while fake_server.in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert fake_server.in_flight == 0, "the server still streams to a client that left"
        # and the endpoint still works afterwards, on a fresh connection
        fake_server.reset()
        assert (await endpoint.post_json("/chat/completions", BODY))["choices"][0]["message"]["content"] == "OK"


async def test_remote_endpoints_use_the_environment_proxy_and_loopback_never_does(
    fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fake server plays the proxy: a proxied request arrives with the full URL as its target
    monkeypatch.setenv("HTTP_PROXY", fake_server.base_url.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with opened(HttpEndpoint("http://llm.example.invalid/v1")) as remote:
        with pytest.raises(EndpointError, match="HTTP 404"):
            await remote.get_json("/models")
    assert fake_server.requests[-1].path == "http://llm.example.invalid/v1/models"
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a dead proxy: loopback must not go through it
    async with opened(HttpEndpoint(fake_server.base_url)) as local:
        assert (await local.post_json("/chat/completions", BODY))["choices"][0]["message"]["content"] == "OK"


async def test_the_direct_post_keeps_what_httpx_did_cookies_and_compression() -> None:
    """post_json skips httpx's client machinery; a sticky-session cookie and a gzip body still work as before."""
    seen: list[dict[str, str]] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        body = gzip.compress(json.dumps({"n": len(seen), "echo": await request.json()}).encode())
        response = web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        if len(seen) == 1:
            response.set_cookie("lb", "replica-2")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with opened(HttpEndpoint(f"http://127.0.0.1:{port}/v1", api_key="sk-x")) as endpoint:
            first = await endpoint.post_json("/chat/completions", BODY)
            second = await endpoint.post_json("/chat/completions", BODY)
    finally:
        await runner.cleanup()
    assert first == {"n": 1, "echo": BODY} and second["n"] == 2  # gzip decoded, JSON parsed
    assert "Cookie" not in seen[0] and seen[1]["Cookie"] == "lb=replica-2"  # the jar sends it back
    assert seen[0]["Authorization"] == "Bearer sk-x" and seen[0]["User-Agent"] == "lodestar/0.1"
    assert seen[0]["Content-Type"] == "application/json"
