"""Capability probing: what the server really does, cached on disk, read by the fallbacks."""

from __future__ import annotations

from agent.llm.capabilities import load_cached
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer, Reply


async def test_probe_finds_everything_on_a_full_server(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply('{"ok": true}', match=lambda body: "response_format" in body)
    fake_server.reply(Reply.tool_call("get_time", {"zone": "UTC"}), match=lambda body: "tools" in body)
    caps = await hub.capabilities("judge")
    assert caps.probed and caps.streaming and caps.logprobs and caps.json_schema and caps.json_object
    assert caps.tool_calls and caps.context_length == 2048
    assert caps.notes == {}


async def test_probe_reports_what_a_weak_server_lacks(home) -> None:
    from agent.core.config import load_settings
    from tests.conftest import write_config

    with FakeOpenAIServer(supports_logprobs=False, supports_tools=False, supports_json_schema=False) as weak:
        weak.reply("not json at all")
        settings = load_settings(write_config(home.parent / "lodestar.toml", weak.base_url, max_retries=0))
        async with LLMHub(settings) as hub:
            caps = await hub.capabilities("caller")
            assert caps.streaming
            assert not caps.logprobs and not caps.json_schema and not caps.tool_calls
            assert not caps.json_object  # accepted, but the reply was not JSON
            assert "HTTP 400" in caps.notes["tool_calls"]
            # the LLM handles made afterwards carry the probed capabilities
            assert hub.llm("judge").capabilities.logprobs is False
        cached = load_cached(settings.cache_dir, weak.base_url, "fake-model")
        assert cached is not None and cached.logprobs is False


async def test_cached_capabilities_are_reused_without_probing(settings, fake_server: FakeOpenAIServer) -> None:
    async with LLMHub(settings) as hub:
        await hub.capabilities("judge")
    probes = fake_server.request_count
    async with LLMHub(settings) as hub:
        caps = await hub.capabilities("planner")
        await hub.probe_all()
    assert caps.probed and fake_server.request_count == probes
