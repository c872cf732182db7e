"""The OpenAI-compatible client against the fake server over real HTTP: streaming, retries, limits, cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from agent.core.config import load_settings
from agent.core.errors import EndpointError, EndpointTimeout, EndpointUnreachable, ModelOutputError
from agent.core.trace import LlmCall, Repair, Trace
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.conftest import write_config

ASK = [{"role": "user", "content": "What is the pole star?"}]


async def test_complete_returns_text_usage_and_records_the_call(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply("Polaris is the pole star.")
    trace = Trace()
    completion = await hub.llm("summarizer", trace).complete(ASK, temperature=0.3, seed=7, stop=["\n\n"])
    assert completion.text == "Polaris is the pole star."
    assert completion.usage.completion_tokens > 0
    body = fake_server.chat_requests[-1].json
    assert body["model"] == "fake-model" and body["seed"] == 7 and body["stop"] == ["\n\n"]
    assert body["temperature"] == 0.3
    [call] = [e for e in trace.events if isinstance(e, LlmCall)]
    assert call.role == "summarizer" and call.ok and call.retries == 0
    assert trace.usage.llm_calls == 1 and trace.usage.completion_tokens == completion.usage.completion_tokens


async def test_api_key_is_sent_but_never_recorded(hub: LLMHub, fake_server: FakeOpenAIServer, tmp_path) -> None:
    trace = Trace(path=tmp_path / "t.jsonl")
    await hub.llm("planner", trace).complete(ASK)
    trace.close()
    assert fake_server.chat_requests[-1].headers["authorization"] == "Bearer sk-test-secret-123456789"
    assert "sk-test-secret" not in (tmp_path / "t.jsonl").read_text()
    assert "sk-test-secret" not in repr(hub.llm("planner").balancer.replicas[0].http)


async def test_stream_yields_pieces_in_order_and_a_final_completion(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="one two three four five six"))
    pieces: list[str] = []
    async with hub.llm("summarizer").stream(ASK) as stream:
        async for piece in stream:
            pieces.append(piece)
    assert len(pieces) >= 3
    assert "".join(pieces) == "one two three four five six"
    assert stream.completion is not None and stream.completion.text == "".join(pieces)
    assert stream.completion.finish_reason == "stop"
    assert fake_server.chat_requests[-1].json["stream"] is True


async def test_logprobs_are_parsed_from_the_first_token(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="Yes", top_logprobs={"Yes": -0.2, " Yes": -1.5, "No": -2.5}))
    completion = await hub.llm("judge").complete(ASK, max_tokens=1, logprobs=True, top_logprobs=20)
    tops = completion.first_token_top_logprobs()
    assert tops is not None and tops["Yes"] == pytest.approx(-0.2) and tops["No"] == pytest.approx(-2.5)


async def test_retries_through_a_429_storm_on_every_third_request(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.fail_every(3, status=429, retry_after=0.01)
    trace = Trace()
    llm = hub.llm("caller", trace)
    results = [await llm.complete(ASK) for _ in range(9)]
    assert all(r.text == "OK" for r in results)
    assert sum(r.retries for r in results) >= 3
    assert fake_server.request_count >= 12
    assert trace.usage.retries == sum(r.retries for r in results)


async def test_retries_through_500s(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(Reply.error(500), Reply.error(503), "recovered")
    completion = await hub.llm("caller").complete(ASK)
    assert completion.text == "recovered" and completion.retries == 2


async def test_retry_after_is_honoured(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(Reply.error(429, retry_after=0.6), "after the wait")
    started = time.perf_counter()
    completion = await hub.llm("caller").complete(ASK)
    assert completion.text == "after the wait"
    assert time.perf_counter() - started >= 0.55  # our own backoff here would be at most 0.2 s


async def test_gives_up_after_max_retries_with_the_status_in_the_message(
    hub: LLMHub, fake_server: FakeOpenAIServer
) -> None:
    fake_server.fail_every(1, status=500)
    with pytest.raises(EndpointError) as info:
        await hub.llm("caller").complete(ASK)
    assert "HTTP 500" in str(info.value) and "gave up after 5 attempts" in str(info.value)
    assert fake_server.request_count == 5


async def test_client_errors_are_not_retried(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(Reply.error(400, "bad model name"))
    with pytest.raises(EndpointError, match="bad model name"):
        await hub.llm("caller").complete(ASK)
    assert fake_server.request_count == 1


async def test_malformed_json_body_is_retried_then_reported(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(Reply(fault="malformed_json"), "fine")
    assert (await hub.llm("caller").complete(ASK)).text == "fine"
    fake_server.fail_every(1, fault="malformed_json")
    with pytest.raises(EndpointError, match="malformed JSON"):
        await hub.llm("caller").complete(ASK)


async def test_read_timeout_is_retried_then_raises(home, fake_server: FakeOpenAIServer) -> None:
    config = write_config(home.parent / "lodestar.toml", fake_server.base_url, max_retries=1, extra="")
    config.write_text(config.read_text().replace("read_timeout_s = 5", "read_timeout_s = 0.3"))
    fake_server.reply(Reply(content="late", delay_s=1.0))
    async with LLMHub(load_settings(config)) as hub:
        started = time.perf_counter()
        with pytest.raises(EndpointTimeout):
            await hub.llm("caller").complete(ASK)
    assert fake_server.request_count == 2
    assert time.perf_counter() - started < 3


async def test_concurrency_limit_holds_at_the_server(home, fake_server: FakeOpenAIServer) -> None:
    config = write_config(home.parent / "lodestar.toml", fake_server.base_url, max_concurrency=3)
    fake_server.reply(Reply(content="slow", delay_s=0.05))
    async with LLMHub(load_settings(config)) as hub:
        # several roles share one endpoint: the limit is per endpoint, not per role
        calls = [hub.llm(role).complete(ASK) for role in ("planner", "judge", "explorer") for _ in range(8)]
        await asyncio.gather(*calls)
    assert fake_server.request_count == 24
    assert fake_server.max_in_flight == 3


async def test_cancelling_mid_stream_closes_the_connection(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content=" ".join(f"w{i}" for i in range(200)), chunk_delay_s=0.02))
    received: list[str] = []

    async def consume() -> None:
        async with hub.llm("summarizer").stream(ASK) as stream:
            async for piece in stream:
                received.append(piece)

    task = asyncio.create_task(consume())
    while len(received) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 2
    while fake_server.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert fake_server.in_flight == 0, "the server still streams to a cancelled client"
    assert len(received) < 100


async def test_breaking_out_of_a_stream_releases_the_slot(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content=" ".join(f"w{i}" for i in range(100)), chunk_delay_s=0.01))
    llm = hub.llm("summarizer")
    async with llm.stream(ASK) as stream:
        async for _ in stream:
            break
    replica = llm.balancer.replicas[0]
    assert replica.in_flight == 0
    assert (await llm.complete(ASK)).text  # the slot is free again


async def test_stream_cut_before_the_first_token_is_retried(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(Reply(content="x y z", fault="cut_stream", cut_after=0), "whole answer")
    async with hub.llm("summarizer").stream(ASK) as stream:
        text = await stream.text()
    assert text == "whole answer"


async def test_stream_cut_mid_answer_is_a_clear_error(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply(Reply(content="a b c d e f g h", fault="cut_stream", cut_after=3))
    with pytest.raises(ModelOutputError, match="stream was cut after 3 characters"):
        async with hub.llm("summarizer").stream(ASK) as stream:
            await stream.text()


async def test_replicas_share_the_load(home) -> None:
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        config = write_config(home.parent / "lodestar.toml", first.base_url)
        config.write_text(
            config.read_text().replace(
                f'base_url = "{first.base_url}"', f'base_url = "{first.base_url}"\nreplicas = ["{second.base_url}"]'
            )
        )
        first.reply(Reply(content="a", delay_s=0.05))
        second.reply(Reply(content="b", delay_s=0.05))
        async with LLMHub(load_settings(config)) as hub:
            await asyncio.gather(*(hub.llm("judge").complete(ASK) for _ in range(20)))
        assert first.request_count + second.request_count == 20
        assert min(first.request_count, second.request_count) >= 7


async def test_failover_when_one_replica_is_down(home) -> None:
    with FakeOpenAIServer() as alive:
        dead = FakeOpenAIServer()
        dead.start()
        dead_url = dead.base_url
        dead.stop()  # nothing listens there any more
        config = write_config(home.parent / "lodestar.toml", dead_url)
        config.write_text(
            config.read_text().replace(
                f'base_url = "{dead_url}"', f'base_url = "{dead_url}"\nreplicas = ["{alive.base_url}"]'
            )
        )
        async with LLMHub(load_settings(config)) as hub:
            results = await asyncio.gather(*(hub.llm("judge").complete(ASK) for _ in range(10)))
            dead_replica = hub.llm("judge").balancer.replicas[0]
            assert not dead_replica.healthy
        assert all(r.text == "OK" and r.endpoint == alive.base_url for r in results)
        assert alive.request_count == 10


async def test_unreachable_endpoint_names_the_url(home) -> None:
    dead = FakeOpenAIServer()
    dead.start()
    url = dead.base_url
    dead.stop()
    config = write_config(home.parent / "lodestar.toml", url, max_retries=2)
    async with LLMHub(load_settings(config)) as hub:
        with pytest.raises(EndpointUnreachable) as info:
            await hub.llm("caller").complete(ASK)
    assert url in str(info.value) and "refused" in str(info.value)


class Verdict(BaseModel):
    relevant: bool
    p_yes: float


async def test_complete_json_uses_json_schema_when_supported(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply('{"relevant": true, "p_yes": 0.8}')
    verdict = await hub.llm("judge").complete_json(ASK, Verdict)
    assert verdict == Verdict(relevant=True, p_yes=0.8)
    assert fake_server.chat_requests[-1].json["response_format"]["type"] == "json_schema"


async def test_complete_json_repairs_invalid_output(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue("Sure! here you go: {relevant: yes", '```json\n{"relevant": false, "p_yes": 0.1}\n```')
    llm = hub.llm("judge")
    llm.capabilities = llm.capabilities.model_copy(update={"json_schema": False, "json_object": False})
    verdict = await llm.complete_json(ASK, Verdict)
    assert verdict.p_yes == 0.1
    retry = fake_server.chat_requests[-1].json["messages"]
    assert "not valid JSON" in retry[-1]["content"]
    assert "response_format" not in fake_server.chat_requests[-1].json


async def test_complete_json_gives_up_with_a_clear_error(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.reply("never JSON")
    with pytest.raises(ModelOutputError, match="no valid JSON after 3 tries"):
        await hub.llm("judge").complete_json(ASK, Verdict)


async def test_complete_json_off_the_schema_leaves_a_repair_event(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue('{"relevant": true}', '{"relevant": true, "p_yes": 0.7}')
    trace = Trace()
    verdict = await hub.llm("judge", trace).complete_json(ASK, Verdict)
    assert verdict.p_yes == 0.7
    kinds = [e.type for e in trace.events]
    assert kinds == ["llm_call", "repair", "llm_call"]
    repair = trace.events[1]
    assert isinstance(repair, Repair) and repair.role == "judge" and repair.action == "retried"
    assert "p_yes: Field required" in repair.problem


async def test_complete_json_falls_back_down_the_same_ladder_as_the_loop(
    hub: LLMHub, fake_server: FakeOpenAIServer
) -> None:
    fake_server.supports_json_schema = False  # a 400 for json_schema
    fake_server.reply('{"relevant": false, "p_yes": 0.2}')
    trace = Trace()
    llm = hub.llm("judge", trace)
    assert (await llm.complete_json(ASK, Verdict)).p_yes == 0.2
    assert (await llm.complete_json(ASK, Verdict)).p_yes == 0.2  # the refusal is remembered: one 400 in all
    formats = [r.json.get("response_format", {}).get("type") for r in fake_server.chat_requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert "JSON schema" in fake_server.chat_requests[-1].json["messages"][-1]["content"]  # the prompt carries it
    (repair,) = [e for e in trace.events if isinstance(e, Repair)]
    assert repair.action.startswith("fell back to json_object")


async def test_a_hub_closes_only_the_replicas_it_opened(settings, fake_server: FakeOpenAIServer, home) -> None:
    fake_server.reply("fine")
    with FakeOpenAIServer() as other:
        other.reply("other")
        other_config = write_config(home.parent / "other.toml", other.base_url)
        async with LLMHub(settings) as first:
            second = LLMHub(settings)  # the same URL: shares the replica (one concurrency limit per server)
            third = LLMHub(load_settings(other_config))
            await second.start()
            await third.start()
            shared = first.llm("caller").balancer.replicas[0]
            assert second.llm("caller").balancer.replicas[0] is shared
            own = third.llm("caller").balancer.replicas[0]
            await second.aclose()  # before the fix: closed every replica of the loop, first's and third's too
            assert (await first.llm("caller").complete(ASK)).text == "fine"
            assert (await third.llm("caller").complete(ASK)).text == "other"
            await third.aclose()
            assert own.owners == 0 and own.http._client.is_closed and shared.owners == 1
        assert shared.owners == 0
