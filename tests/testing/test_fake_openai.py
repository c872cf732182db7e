"""Behaviour of the fake OpenAI server, exercised over real HTTP with plain httpx."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from agent.testing.fake_openai import FakeOpenAIServer, Reply, Rule, fake_openai_server
from tests.conftest import REPO

REPO_ROOT = REPO


def _chat(content: str = "hello there", **extra: object) -> dict[str, object]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": content}], **extra}


def _sse(client: httpx.Client, body: dict[str, object]) -> list[str]:
    """The `data:` payloads of a streamed response, in order."""
    with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def _eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with fake_openai_server() as srv:
        yield srv


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5) as c:
        yield c


# --------------------------------------------------------------------------- basic shapes


def test_models_endpoint_reports_model_and_context() -> None:
    with fake_openai_server(model="tiny", context_length=4096) as srv:
        data = httpx.get(f"{srv.base_url}/models").json()
    assert data["object"] == "list"
    assert data["data"][0]["id"] == "tiny"
    assert data["data"][0]["owned_by"] == "fake"
    assert data["data"][0]["meta"]["n_ctx_train"] == 4096


def test_non_streaming_shape_and_usage(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("The answer is 42")
    body = client.post("/chat/completions", json=_chat("what is the answer")).json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    assert body["model"] == "fake-model"
    choice = body["choices"][0]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "The answer is 42"}
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}


def test_default_reply_is_ok_and_configurable(client: httpx.Client) -> None:
    assert client.post("/chat/completions", json=_chat()).json()["choices"][0]["message"]["content"] == "OK"
    with fake_openai_server(default_reply="fallback") as srv:
        reply = httpx.post(f"{srv.base_url}/chat/completions", json=_chat()).json()
    assert reply["choices"][0]["message"]["content"] == "fallback"


def test_max_tokens_truncates_with_length_finish(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("one two three four five")
    choice = client.post("/chat/completions", json=_chat(max_tokens=2)).json()["choices"][0]
    assert choice["message"]["content"] == "one two"
    assert choice["finish_reason"] == "length"


def test_unknown_route_is_404(client: httpx.Client) -> None:
    response = client.post("/embeddings", json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


# --------------------------------------------------------------------------- streaming


def test_streaming_chunks_and_done(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("alpha beta gamma delta")
    events = _sse(client, _chat(stream=True))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks]
    assert "".join(pieces) == "alpha beta gamma delta"
    assert sum(1 for p in pieces if p) == 4  # one chunk per word by default
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert "usage" not in chunks[-1]


def test_stream_chunk_count_is_configurable(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply("a b c d e f g", chunks=3))
    chunks = [json.loads(e) for e in _sse(client, _chat(stream=True))[:-1]]
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks if c["choices"][0]["delta"].get("content")]
    assert pieces == ["a b c", " d e", " f g"]


def test_stream_include_usage_sends_final_usage_chunk(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("x y z")
    events = _sse(client, _chat("one two", stream=True, stream_options={"include_usage": True}))
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert json.loads(events[-3])["choices"][0]["finish_reason"] == "stop"


def test_keep_alive_reuses_one_connection_across_streams(server: FakeOpenAIServer, client: httpx.Client) -> None:
    for _ in range(3):
        assert _sse(client, _chat(stream=True))[-1] == "[DONE]"
        assert client.post("/chat/completions", json=_chat()).status_code == 200
    assert len({r["client"] for r in server.requests}) == 1


# --------------------------------------------------------------------------- logprobs


def test_scripted_logprobs_truncated_to_top_logprobs(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply("Yes", top_logprobs={"Yes": -0.1, "No": -2.3, "Maybe": -4.0}))
    body = client.post("/chat/completions", json=_chat(logprobs=True, top_logprobs=2)).json()
    first = body["choices"][0]["logprobs"]["content"][0]
    assert first["token"] == "Yes" and first["logprob"] == -0.1 and first["bytes"] is None
    assert first["top_logprobs"] == [
        {"token": "Yes", "logprob": -0.1, "bytes": None},
        {"token": "No", "logprob": -2.3, "bytes": None},
    ]


def test_generated_logprobs_cover_every_token(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("red green")
    body = client.post("/chat/completions", json=_chat(logprobs=True, top_logprobs=3)).json()
    entries = body["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in entries] == ["red", " green"]
    for entry in entries:
        assert entry["logprob"] == -0.01
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert len(entry["top_logprobs"]) == 3


def test_logprobs_in_stream_chunks(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply("No way", top_logprobs={"Yes": -1.5, "No": -0.3}))
    chunks = [json.loads(e) for e in _sse(client, _chat(stream=True, logprobs=True, top_logprobs=1))[:-1]]
    content_chunks = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    first = content_chunks[0]["choices"][0]["logprobs"]["content"][0]
    assert first["token"] == "No" and first["top_logprobs"] == [{"token": "No", "logprob": -0.3, "bytes": None}]


def test_supports_logprobs_false_returns_null() -> None:
    with fake_openai_server(supports_logprobs=False) as srv:
        srv.reply(Reply("Yes", top_logprobs={"Yes": -0.1}))
        body = httpx.post(f"{srv.base_url}/chat/completions", json=_chat(logprobs=True, top_logprobs=2)).json()
    assert body["choices"][0]["logprobs"] is None


# --------------------------------------------------------------------------- tools and capabilities


def test_tool_call_non_streaming(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply.tool_call("search", {"q": "cats"}, id="call_1"))
    choice = client.post("/chat/completions", json=_chat(tools=[{"type": "function"}])).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call == {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "cats"}'}}


def test_tool_call_streaming_reassembles(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply(tool_calls=[{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": "{}"}]))
    chunks = [json.loads(e) for e in _sse(client, _chat(stream=True))[:-1]]
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []):
            call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.get("id", "")
            call["name"] += delta.get("function", {}).get("name", "")
            call["arguments"] += delta.get("function", {}).get("arguments", "")
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [("a", {"x": 1}), ("b", {})]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_capability_flags_reject_tools_and_json_schema() -> None:
    with fake_openai_server(supports_tools=False, supports_json_schema=False) as srv:
        url = f"{srv.base_url}/chat/completions"
        tools = httpx.post(url, json=_chat(tools=[{"type": "function", "function": {"name": "f"}}]))
        schema = httpx.post(url, json=_chat(response_format={"type": "json_schema", "json_schema": {}}))
        plain_json = httpx.post(url, json=_chat(response_format={"type": "json_object"}))
    assert tools.status_code == 400 and tools.json()["error"]["type"] == "invalid_request_error"
    assert schema.status_code == 400
    assert schema.json()["error"]["type"] == "invalid_request_error" and schema.json()["error"]["message"]
    assert plain_json.status_code == 200


# --------------------------------------------------------------------------- faults


def test_429_with_retry_after_and_error_body(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply.error(429, "slow down", retry_after=0.05), times=1)
    server.reply(Reply.error(503))
    first = client.post("/chat/completions", json=_chat())
    assert first.status_code == 429
    assert first.headers["retry-after"] == "0.05"
    assert first.json()["error"] == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    second = client.post("/chat/completions", json=_chat())
    assert second.status_code == 503 and "retry-after" not in second.headers
    assert second.json()["error"]["type"] == "server_error"


def test_malformed_json(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply(fault="malformed_json"))
    response = client.post("/chat/completions", json=_chat())
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_cut_stream_has_no_done(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply("one two three four five six", fault="cut_stream", cut_after=3), times=1)
    seen: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", "/chat/completions", json=_chat(stream=True)) as response:
            seen.extend(line for line in response.iter_lines() if line.startswith("data: "))
    assert len(seen) == 3
    assert "data: [DONE]" not in seen
    # The client recovers on a fresh connection.
    assert client.post("/chat/completions", json=_chat()).status_code == 200


def test_cut_non_streaming_body(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply("hello", fault="cut_stream"), times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=_chat())


def test_drop_closes_without_response(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply(fault="drop"), times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=_chat())
    assert server.request_count == 1
    assert client.post("/chat/completions", json=_chat()).status_code == 200


def test_rule_can_fault_models_endpoint(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.add_rule(path="/v1/models", reply=Reply.error(503), times=1)
    assert client.get("/models").status_code == 503
    assert client.get("/models").status_code == 200
    assert client.post("/chat/completions", json=_chat()).status_code == 200  # chat untouched


def test_delays(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply(Reply("a", delay_s=0.15), times=1)
    start = time.monotonic()
    client.post("/chat/completions", json=_chat())
    assert time.monotonic() - start >= 0.15

    server.reply(Reply("a b c", first_byte_delay_s=0.1, chunk_delay_s=0.05))
    start = time.monotonic()
    with client.stream("POST", "/chat/completions", json=_chat(stream=True)) as response:
        headers_at = time.monotonic() - start
        list(response.iter_lines())
    total = time.monotonic() - start
    assert headers_at < 0.1
    assert total >= 0.1 + 4 * 0.05  # five events: role, three words, finish


def test_server_level_latency() -> None:
    with fake_openai_server(latency=0.1) as srv:
        start = time.monotonic()
        httpx.post(f"{srv.base_url}/chat/completions", json=_chat())
        assert time.monotonic() - start >= 0.1


# --------------------------------------------------------------------------- rules


def test_rules_first_match_wins_and_times(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("once", contains="weather", times=1)
    server.reply("always", contains="weather")
    server.reply("sys", system_contains="pirate")
    server.reply("model", model="other")

    def ask(content: str, **extra: object) -> str:
        body = client.post("/chat/completions", json={**_chat(content), **extra}).json()
        return body["choices"][0]["message"]["content"]

    assert ask("what's the weather?") == "once"
    assert ask("weather again") == "always"
    assert ask("nothing special") == "OK"
    pirate = [{"role": "system", "content": "You are a pirate"}, {"role": "user", "content": "hi"}]
    assert ask("", messages=pirate) == "sys"
    assert ask("hi", model="other") == "model"


def test_last_user_contains_and_content_parts(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.reply("matched", last_user_contains="final")
    early = {"messages": [{"role": "user", "content": "final"}, {"role": "user", "content": "other"}]}
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "the final question"}]}]}
    assert client.post("/chat/completions", json=early).json()["choices"][0]["message"]["content"] == "OK"
    assert client.post("/chat/completions", json=parts).json()["choices"][0]["message"]["content"] == "matched"


def test_callable_match_callable_reply_and_cycling(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.add_rule(Rule(match=lambda body: body.get("temperature") == 0, reply=lambda body, i: f"call {i}"))
    server.reply(["a", Reply("b")], contains="cycle")

    def ask(**extra: object) -> str:
        body = client.post("/chat/completions", json={**_chat("cycle"), **extra}).json()
        return body["choices"][0]["message"]["content"]

    assert [ask(temperature=0), ask(temperature=0)] == ["call 0", "call 1"]
    assert [ask(), ask(), ask()] == ["a", "b", "a"]


def test_queue_serves_in_order_then_falls_through(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.queue("first", Reply.error(500), "third")
    results = [client.post("/chat/completions", json=_chat()) for _ in range(4)]
    assert [r.status_code for r in results] == [200, 500, 200, 200]
    assert [r.json()["choices"][0]["message"]["content"] for r in results if r.status_code == 200] == [
        "first",
        "third",
        "OK",
    ]


def test_fail_every_counts_all_chat_requests(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.fail_every(3, status=429, retry_after=0.05)
    statuses = [client.post("/chat/completions", json=_chat()).status_code for _ in range(7)]
    assert statuses == [200, 200, 429, 200, 200, 429, 200]
    assert server.request_count == 7
    server.clear_faults()
    assert client.post("/chat/completions", json=_chat()).status_code == 200


def test_fail_randomly_is_deterministic_for_a_seed() -> None:
    def run() -> list[int]:
        with fake_openai_server() as srv:
            srv.fail_randomly(0.5, statuses=(500, 429), seed=7)
            with httpx.Client(base_url=srv.base_url) as c:
                return [c.post("/chat/completions", json=_chat()).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert {500, 429, 200} >= set(first) and 200 in first and len(set(first)) > 1


# --------------------------------------------------------------------------- observability and lifecycle


def test_records_requests_and_redacts_authorization(server: FakeOpenAIServer, client: httpx.Client) -> None:
    client.post("/chat/completions", json=_chat("hey"), headers={"Authorization": "Bearer sk-secret"})
    (recorded,) = server.requests
    assert recorded.path == "/v1/chat/completions" and recorded["method"] == "POST"
    assert recorded.json["messages"][0]["content"] == "hey"
    assert recorded.headers["authorization"] == "Bearer sk-secret"  # available to assertions...
    assert "sk-secret" not in repr(recorded) and "sk-secret" not in str(server.requests)  # ...never printed
    assert isinstance(recorded["time"], float)
    server.reset()
    assert server.requests == [] and server.request_count == 0 and server.max_in_flight == 0


def test_max_in_flight_with_concurrent_async_requests() -> None:
    async def burst(srv: FakeOpenAIServer, clients: int, per_client: int) -> list[int]:
        # Several pools: one httpx pool with hundreds of connections is slow client-side.
        pools = [
            httpx.AsyncClient(base_url=srv.base_url, limits=httpx.Limits(max_connections=per_client), timeout=10)
            for _ in range(clients)
        ]
        try:
            calls = (c.post("/chat/completions", json=_chat()) for c in pools for _ in range(per_client))
            return [r.status_code for r in await asyncio.gather(*calls)]
        finally:
            await asyncio.gather(*(c.aclose() for c in pools))

    with fake_openai_server(latency=0.25) as srv:
        assert asyncio.run(burst(srv, 1, 12)) == [200] * 12
        assert srv.max_in_flight == 12
        _eventually(lambda: srv.in_flight == 0)  # the server decrements just after the last byte
        srv.reset()
        srv.latency = 0.4  # comfortably longer than the spread of 250 arrivals on a busy machine
        assert asyncio.run(burst(srv, 10, 25)) == [200] * 250
        assert srv.max_in_flight >= 200
        assert srv.request_count == 250


def test_async_context_manager() -> None:
    async def main() -> str:
        async with FakeOpenAIServer(model="async-model") as srv, httpx.AsyncClient(base_url=srv.base_url) as c:
            return (await c.get("/models")).json()["data"][0]["id"]

    assert asyncio.run(main()) == "async-model"


def test_stop_releases_thread_and_port() -> None:
    before = threading.active_count()
    srv = FakeOpenAIServer().start()
    port = srv.port
    with httpx.Client(base_url=srv.base_url) as c:
        c.post("/chat/completions", json=_chat())  # leave an idle keep-alive connection open
        srv.stop()
    srv.stop()  # idempotent
    assert threading.active_count() == before
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(1)
        s.connect(("127.0.0.1", port))


def test_cli_prints_base_url_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.testing.fake_openai", "--port", "0", "--latency", "0.01", "--model", "cli"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert httpx.get(f"{base_url}/models", timeout=5).json()["data"][0]["id"] == "cli"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
