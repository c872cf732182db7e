"""The on-disk response cache: keys, concurrency, and the LLM layer serving hits (plain and streamed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.core.config import Settings
from agent.core.errors import EndpointError
from agent.core.trace import LlmCall, Trace
from agent.llm.cache import ResponseCache, request_key
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer, Reply

ASK = [{"role": "user", "content": "What is the pole star?"}]
PAYLOAD = {"model": "m", "messages": ASK, "temperature": 0.0, "max_tokens": 16}


def test_key_covers_request_and_endpoint_but_not_stream_flags() -> None:
    base = request_key("http://a/v1", PAYLOAD)
    assert base == request_key("http://a/v1", dict(reversed(list(PAYLOAD.items()))))  # canonical: order-free
    assert base == request_key("http://a/v1", {**PAYLOAD, "stream": True, "stream_options": {"include_usage": True}})
    assert base != request_key("http://b/v1", PAYLOAD)
    assert base != request_key("http://a/v1", {**PAYLOAD, "model": "other"})
    assert base != request_key("http://a/v1", {**PAYLOAD, "max_tokens": 17})
    assert len(base) == 64


def test_sampled_requests_get_an_ordinal_per_run(tmp_path: Path) -> None:
    with ResponseCache(tmp_path) as cache:
        greedy = [cache.key("u", PAYLOAD, run=None) for _ in range(2)]
        assert greedy[0] == greedy[1]  # temperature 0: the same request is the same answer
        sampled = {**PAYLOAD, "temperature": 0.7}
        run_a, run_b = Trace(), Trace()
        keys_a = [cache.key("u", sampled, run_a) for _ in range(3)]
        keys_b = [cache.key("u", sampled, run_b) for _ in range(3)]
        assert len(set(keys_a)) == 3  # m samples stay m distinct answers
        assert keys_a == keys_b  # and a rerun replays them in the same order


async def test_many_writers_at_once_from_two_connections(tmp_path: Path) -> None:
    first, second = ResponseCache(tmp_path), ResponseCache(tmp_path)  # like two processes on one file
    try:
        await asyncio.gather(*(cache.put(f"k{i}", f"v{i}") for i in range(100) for cache in (first, second)))
        values = await asyncio.gather(*(second.get(f"k{i}") for i in range(100)))
        assert values == [f"v{i}" for i in range(100)]
        await first.put("k0", "changed")
        assert await second.get("k0") == "v0"  # the first stored answer wins
        assert await first.get("missing") is None
        assert len(first) == 100 and first.write_errors == 0
    finally:
        first.close()
        second.close()


async def test_complete_is_served_from_the_cache_and_counted(settings: Settings, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="Polaris.", top_logprobs={"Polaris": -0.1, "Vega": -2.5}))
    with ResponseCache.for_settings(settings) as cache:
        async with LLMHub(settings, cache=cache) as hub:
            first_trace, second_trace = Trace(), Trace()
            first = await hub.llm("judge", first_trace).complete(ASK, logprobs=True, top_logprobs=5)
            second = await hub.llm("judge", second_trace).complete(ASK, logprobs=True, top_logprobs=5)
            other = await hub.llm("judge").complete(ASK, max_tokens=3)  # another request: a miss
    assert len(fake_server.chat_requests) == 2
    assert second.text == first.text == "Polaris."
    assert second.first_token_top_logprobs() == first.first_token_top_logprobs()
    assert other.text == "Polaris."
    [miss] = [e for e in first_trace.events if isinstance(e, LlmCall)]
    [hit] = [e for e in second_trace.events if isinstance(e, LlmCall)]
    assert not miss.cached and hit.cached
    assert hit.completion_tokens == miss.completion_tokens  # usage is what the answer cost when it was made
    assert first_trace.usage.cache_hits == 0 and second_trace.usage.cache_hits == 1
    assert (settings.cache_dir / "responses" / "responses.sqlite3").is_file()


async def test_stream_hit_is_one_piece_and_shares_entries_with_complete(
    settings: Settings, fake_server: FakeOpenAIServer
) -> None:
    fake_server.reply("one two three four")
    with ResponseCache.for_settings(settings) as cache:
        async with LLMHub(settings, cache=cache) as hub:
            llm = hub.llm("summarizer")
            async with llm.stream(ASK) as stream:
                streamed = [piece async for piece in stream]
            trace = Trace()
            async with llm.bind(trace).stream(ASK) as replay:
                replayed = [piece async for piece in replay]
            plain = await llm.complete(ASK)  # stream flags are not part of the key
    assert len(streamed) >= 3 and replayed == ["one two three four"]
    assert replay.completion is not None and replay.completion.text == "one two three four"
    assert plain.text == "one two three four"
    assert len(fake_server.chat_requests) == 1
    assert trace.usage.cache_hits == 1


async def test_failures_are_not_cached_and_probes_bypass_the_cache(
    settings: Settings, fake_server: FakeOpenAIServer
) -> None:
    fake_server.queue(Reply.error(400, "bad request"))
    with ResponseCache.for_settings(settings) as cache:
        async with LLMHub(settings, cache=cache) as hub:
            with pytest.raises(EndpointError):
                await hub.llm("judge").complete(ASK)
            assert (await hub.llm("judge").complete(ASK)).text == "OK"
            asked = len(fake_server.chat_requests)
            await hub.capabilities("judge", refresh=True)
            one_probe = len(fake_server.chat_requests) - asked
            await hub.capabilities("judge", refresh=True)
            assert one_probe >= 5 and len(fake_server.chat_requests) == asked + 2 * one_probe  # both reached the server
        assert len(cache) == 1


async def test_the_api_key_never_reaches_the_cache(settings: Settings, fake_server: FakeOpenAIServer) -> None:
    with ResponseCache.for_settings(settings) as cache:
        async with LLMHub(settings, cache=cache) as hub:
            await hub.llm("judge").complete(ASK)
    folder = settings.cache_dir / "responses"
    for path in folder.iterdir():
        assert b"sk-test-secret" not in path.read_bytes()
