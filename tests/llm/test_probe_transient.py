"""The capability probe caches only definitive answers (issue 15, item 12): a 503 "model is loading" during
warm-up must not be cached for a week as "unsupported", it is probed again on the next run, and missing features
are warned about."""

from __future__ import annotations

from agent.llm.capabilities import load_cached
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer, Reply


def _full(server: FakeOpenAIServer) -> None:
    server.reply('{"ok": true}', match=lambda body: "response_format" in body)
    server.reply(Reply.tool_call("get_time", {"zone": "UTC"}), match=lambda body: "tools" in body)


async def test_a_transient_failure_is_not_cached_as_unsupported(settings, fake_server: FakeOpenAIServer, capsys):
    loading = fake_server.reply(Reply.error(503, "model is loading"), match=lambda body: body.get("logprobs"))
    _full(fake_server)
    async with LLMHub(settings) as hub:
        caps = await hub.capabilities("judge")
    assert caps.logprobs and caps.unsure == ["logprobs"]  # optimistic until a definitive answer
    assert "probing again" in capsys.readouterr().err
    cached = load_cached(settings.cache_dir, fake_server.base_url, "fake-model")
    assert cached is not None and cached.unsure == ["logprobs"]

    loading.times = 0  # the model has loaded: the next run asks again and caches the verdict
    fake_server.reset()
    _full(fake_server)
    async with LLMHub(settings) as hub:
        caps = await hub.capabilities("judge")
    assert caps.logprobs and caps.unsure == [] and fake_server.chat_requests  # probed again
    probes = fake_server.request_count
    async with LLMHub(settings) as hub:
        await hub.capabilities("judge")
    assert fake_server.request_count == probes  # now definitive: cached


async def test_a_definitive_refusal_is_cached_and_warned_about(settings, fake_server: FakeOpenAIServer, capsys):
    fake_server.reply(Reply.error(400, "tools are not supported"), match=lambda body: "tools" in body)
    fake_server.reply('{"ok": true}', match=lambda body: "response_format" in body)
    async with LLMHub(settings) as hub:
        caps = await hub.capabilities("caller")
    assert not caps.tool_calls and caps.unsure == []
    err = capsys.readouterr().err
    assert "lacks tool_calls" in err and err.count("\n") == 1


LLAMA_CPP_VALIDATION_500 = (
    "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


async def test_a_500_carrying_a_validation_error_is_a_refusal_not_a_transient_failure(
    settings, fake_server: FakeOpenAIServer, capsys
):
    """llama-cpp-python answers an unknown response_format with a 500 whose body is pydantic's validation error:
    it is a definitive "no", cached without a retry storm, not a "server loading" to probe again every run."""
    rejected = fake_server.reply(
        Reply.error(500, LLAMA_CPP_VALIDATION_500),
        match=lambda body: (body.get("response_format") or {}).get("type") == "json_schema",
    )
    _full(fake_server)
    async with LLMHub(settings) as hub:
        caps = await hub.capabilities("judge")
    assert not caps.json_schema and caps.unsure == []
    assert rejected.hits == 1  # refused once: not retried
    assert "probing again" not in capsys.readouterr().err
    probes = fake_server.request_count
    async with LLMHub(settings) as hub:
        await hub.capabilities("judge")
    assert fake_server.request_count == probes  # the verdict was cached
