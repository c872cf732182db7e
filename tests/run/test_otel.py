"""OpenTelemetry export: a real OTLP/HTTP receiver on loopback decodes what the SDK's exporter sends for a rag, a kg
and a tools run (span tree, names, GenAI attributes), with no content by default and no cost when the collector is
down."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent.core import otel
from agent.core.config import Settings, TraceSettings
from agent.core.trace import Trace
from agent.llm.hub import LLMHub
from agent.run.question import run_question
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from kg.store import graph_dir
from rag.ingest import ingest_paths
from tests.kg_fixtures import NAVIGATION, Explorer, build_graph
from tests.loop.test_loop import script
from tests.rag_fixtures import FINAL, JUDGE, PREDICTOR, write_corpus

SECRET = "sk-test-secret-123456789"  # the api_key of tests.conftest.write_config


class Receiver:
    """An OTLP/HTTP collector: keeps each POST /v1/traces body and answers 200 with an empty response."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        bodies, paths = self.bodies, self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                paths.append(self.path)
                bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[dict[str, Any]]:
        out = []
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        out.append(
                            {
                                "name": span.name,
                                "id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "trace": span.trace_id.hex(),
                                "kind": span.kind,
                                "status": span.status.code,
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "attrs": {a.key: _value(a.value) for a in span.attributes},
                                "events": [e.name for e in span.events],
                                "service": service,
                            }
                        )
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        otel.shutdown()
        server.close()


def use_collector(settings: Settings, url: str, *, content: bool = False) -> None:
    settings.trace = TraceSettings(otlp_endpoint=url, otlp_content=content)


async def exported(receiver: Receiver) -> list[dict[str, Any]]:
    import asyncio

    assert await asyncio.to_thread(otel.flush, 5.0)
    return receiver.spans()


def tree(spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """parent span id -> children, in start order; the root's parent is ''."""
    children: dict[str, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start"]):
        children.setdefault(span["parent"], []).append(span)
    return children


def check_common(spans: list[dict[str, Any]], mode: str, llm_calls: int) -> tuple[dict[str, Any], dict]:
    (root,) = [s for s in spans if not s["parent"]]
    assert root["name"] == "invoke_agent lodestar" and root["service"] == "lodestar"
    assert root["attrs"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attrs"]["lodestar.mode"] == mode
    assert {s["trace"] for s in spans} == {root["trace"]}
    ids = {s["id"] for s in spans}
    assert all(s["parent"] in ids for s in spans if s["parent"]), "every parent is exported"
    chats = [s for s in spans if s["attrs"]["gen_ai.operation.name"] == "chat"]
    assert len(chats) == llm_calls == root["attrs"]["lodestar.llm_calls"]
    for chat in chats:
        assert chat["name"] == "chat fake-model" and chat["kind"] == 3  # SPAN_KIND_CLIENT
        assert chat["attrs"]["gen_ai.request.model"] == "fake-model"
        assert chat["attrs"]["gen_ai.provider.name"] == "openai"
        assert chat["attrs"]["gen_ai.usage.input_tokens"] > 0 and chat["attrs"]["gen_ai.usage.output_tokens"] > 0
        assert chat["attrs"]["server.address"] == "127.0.0.1"
        assert root["start"] <= chat["start"] <= chat["end"] <= root["end"]
    assert root["attrs"]["gen_ai.usage.input_tokens"] == sum(c["attrs"]["gen_ai.usage.input_tokens"] for c in chats)
    return root, tree(spans)


def no_content(receiver: Receiver, *texts: str) -> None:
    payload = b"".join(receiver.bodies)
    for text in texts:
        assert text.encode() not in payload, f"{text!r} was exported"


async def test_rag_run_spans(settings: Settings, fake_server: FakeOpenAIServer, receiver: Receiver, home: Path) -> None:
    use_collector(settings, receiver.url)
    ingest_paths([str(write_corpus(home.parent / "corpus"))], settings)
    fake_server.reply("Smeaton built it", system_contains=PREDICTOR)
    fake_server.reply(Reply(content="Yes", top_logprobs={"Yes": -0.05, "No": -4.0}), system_contains=JUDGE)
    fake_server.reply("John Smeaton built it in 1759 [1].", system_contains=FINAL)
    question = "Who built the third Eddystone lighthouse?"
    async with LLMHub(settings) as hub:
        result = await run_question(question, "rag", hub)
    spans = await exported(receiver)
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    root, children = check_common(spans, "rag", result.usage.llm_calls)
    (retrieval,) = [s for s in children[root["id"]] if s["name"] == "retrieval documents"]
    attrs = retrieval["attrs"]
    assert attrs["gen_ai.operation.name"] == "retrieval" and attrs["gen_ai.data_source.id"] == "documents"
    assert attrs["lodestar.rag.documents"] == 3 and attrs["lodestar.rag.scoring"] == "logprobs"
    assert attrs["lodestar.rag.kept"] >= 1 and isinstance(attrs["lodestar.rag.threshold"], float)
    # the predictor and judge calls belong to the retrieval step; the final answer's call to the run
    under_step = [s["name"] for s in children[retrieval["id"]]]
    assert under_step == ["chat fake-model"] * (result.usage.llm_calls - 1)
    assert [s["name"] for s in children[root["id"]]].count("chat fake-model") == 1
    no_content(receiver, question, "Smeaton", "lighthouse.md", "Eddystone", SECRET)
    assert "gen_ai.input.messages" not in root["attrs"] and "lodestar.rag.scores" not in attrs


async def test_kg_run_spans(settings: Settings, fake_server: FakeOpenAIServer, receiver: Receiver) -> None:
    use_collector(settings, receiver.url)
    settings.kg.output_format = "text"
    settings.kg.link_embeddings = False
    build_graph(NAVIGATION).save(graph_dir(settings.home))
    fake_server.reply(Explorer(relations=["made_by", "born_in"], sufficient_when="John Harrison, born_in, Foulby"))
    question = "Where was the maker of H4 born?"
    async with LLMHub(settings) as hub:
        result = await run_question(question, "kg", hub)
    spans = await exported(receiver)
    root, children = check_common(spans, "kg", result.usage.llm_calls)
    steps = [s for s in children[root["id"]] if s["name"] == "retrieval graph"]
    assert [s["attrs"]["lodestar.kg.depth"] for s in steps] == [1, 2]
    assert [s["attrs"]["lodestar.kg.sufficient"] for s in steps] == [False, True]
    assert all(s["attrs"]["gen_ai.data_source.id"] == "graph" and children.get(s["id"]) for s in steps)
    assert steps[0]["end"] <= steps[1]["start"], "depths follow each other"
    no_content(receiver, question, "Foulby", "John Harrison", "made_by")


async def test_tools_run_spans_and_content_when_asked(
    settings: Settings, fake_server: FakeOpenAIServer, receiver: Receiver
) -> None:
    script(
        fake_server,
        planner=["Check the time. Next: caller.", "Done. Next: summarizer."],
        caller=[Reply.tool_call("current_datetime", {"timezone": "Europe/London"})],
        summary="It is now noon [1].",
    )
    question = "What time is it in London? My key is " + SECRET
    use_collector(settings, receiver.url)
    async with LLMHub(settings) as hub:
        result = await run_question(question, "tools", hub)
    spans = await exported(receiver)
    root, children = check_common(spans, "tools", result.usage.llm_calls)
    (tool,) = [s for s in spans if s["attrs"]["gen_ai.operation.name"] == "execute_tool"]
    assert tool["name"] == "execute_tool current_datetime" and tool["parent"] == root["id"]
    assert tool["attrs"]["gen_ai.tool.name"] == "current_datetime" and tool["attrs"]["gen_ai.tool.call.id"] == "1"
    assert "gen_ai.tool.call.arguments" not in tool["attrs"]
    assert root["events"] == ["lodestar.plan", "lodestar.plan"]
    no_content(receiver, "What time is it", "Europe/London", "Check the time", "noon", SECRET)

    receiver.bodies.clear()
    use_collector(settings, receiver.url, content=True)
    async with LLMHub(settings) as hub:
        await run_question(question, "tools", hub)
    spans = await exported(receiver)
    (root,) = [s for s in spans if not s["parent"]]
    (tool,) = [s for s in spans if s["attrs"]["gen_ai.operation.name"] == "execute_tool"]
    assert "What time is it in London?" in root["attrs"]["gen_ai.input.messages"]
    assert "noon" in root["attrs"]["gen_ai.output.messages"]
    assert "Europe/London" in tool["attrs"]["gen_ai.tool.call.arguments"]
    no_content(receiver, SECRET)  # content on, secrets still redacted


def test_off_by_default_and_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert otel.traces_url(TraceSettings()) is None
    assert not otel.attach(Trace(), TraceSettings())
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert otel.traces_url(TraceSettings(), env) == "http://collector:4318/v1/traces"
    assert otel.traces_url(TraceSettings(otlp_endpoint="http://mine:1"), env) == "http://mine:1/v1/traces"
    assert otel.traces_url(TraceSettings(otlp_endpoint="http://mine:1"), {"OTEL_SDK_DISABLED": "true"}) is None
    signal = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom/traces"}
    assert otel.traces_url(TraceSettings(), signal) == "http://c:4318/custom/traces"
    # importing the run layer does not import the SDK (start-up stays fast when export is off)
    import subprocess
    import sys

    code = "import sys, agent.run.question; print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_collector_neither_fails_nor_slows_a_run(
    settings: Settings, fake_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.reply("Paris.")

    async def timed(runs: int) -> float:
        started = time.perf_counter()
        async with LLMHub(settings) as hub:
            for i in range(runs):
                result = await run_question(f"Capital of France, take {i}?", "direct", hub)
                assert result.answer == "Paris."
        return time.perf_counter() - started

    baseline = await timed(5)
    settings.trace = TraceSettings(otlp_endpoint=f"http://127.0.0.1:{_closed_port()}")
    caplog.set_level(logging.WARNING)
    try:
        with_dead_collector = await timed(5)
        import asyncio

        await asyncio.to_thread(otel.flush, 5.0)
        started = time.perf_counter()
        otel.shutdown()
        assert time.perf_counter() - started < otel.SHUTDOWN_S + 0.5
    finally:
        otel.shutdown()
    warnings = [r for r in caplog.records if r.name == "lodestar.otel"]
    assert len(warnings) == 1 and "not reachable" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]
    assert with_dead_collector < baseline * 2 + 0.5


def test_trace_section_of_the_config(home: Path) -> None:
    from agent.core.config import load_settings
    from agent.core.errors import ConfigError

    config = home.parent / "mine.toml"  # not ./lodestar.toml, which a plain load_settings() would read
    config.write_text('[trace]\notlp_endpoint = "http://127.0.0.1:4318"\notlp_content = true\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.trace.otlp_endpoint == "http://127.0.0.1:4318" and settings.trace.otlp_content
    assert load_settings(env={}).trace == TraceSettings()  # no file: off
    config.write_text("[trace]\notlp_contnet = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine.toml: trace.otlp_contnet: Extra inputs are not permitted"):
        load_settings(config)
