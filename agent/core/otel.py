"""OpenTelemetry export of runs: a trace sink that turns one run's events into spans (GenAI conventions).

Off unless ``[trace] otlp_endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` names a collector (a base URL: spans go to
``<url>/v1/traces`` over OTLP/HTTP). The OpenTelemetry SDK is imported only then, so start-up does not pay for it.

One run becomes a span tree: ``invoke_agent lodestar`` at the root; under it ``chat <model>`` per LLM call (model,
token usage), ``execute_tool <name>`` per tool execution, and ``retrieval documents`` (MAIN-RAG's scoring) or
``retrieval graph`` (one Think-on-Graph depth) per retrieval step, which hold the LLM calls made for them. Events
carry their own times, so the tree is built when the run ends and the spans are given explicit start and end
times. Message content (the question, answers, tool arguments and outputs, thoughts, document ids, graph entities)
is exported only with ``[trace] otlp_content = true``; every string is redacted. Export runs in the SDK's
background thread with a short timeout: a collector that is down costs a run nothing, its spans are dropped with
one warning, and the exit waits at most :data:`SHUTDOWN_S` for it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent.core.config import TraceSettings
from agent.core.errors import one_line
from agent.core.secrets import redact
from agent.core.trace import (
    Answer,
    DocsScored,
    KgStep,
    LlmCall,
    Plan,
    Rewrite,
    RunEnd,
    RunStart,
    ToolCallEvent,
    ToolResultEvent,
    Trace,
    _Event,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = logging.getLogger("lodestar.otel")

EXPORT_TIMEOUT_S = 2.0  # one export attempt (the SDK retries within this budget)
SHUTDOWN_S = 2.0  # the most the process waits at exit for the last spans
RETRY_AFTER_S = 30.0  # after a failed export, batches are dropped (not sent) for this long
CONTENT_CHARS = 4000  # a content attribute is cut to this many characters
PROVIDER = "openai"  # every endpoint speaks the OpenAI API (gen_ai.provider.name's well-known value)


def traces_url(settings: TraceSettings, env: dict[str, str] | None = None) -> str | None:
    """The collector's traces URL, or None when export is off. The config key wins over the environment."""
    env = dict(os.environ if env is None else env)
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":  # the standard off switch wins
        return None
    base = settings.otlp_endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base and base.strip():
        return base.strip().rstrip("/") + "/v1/traces"
    signal = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    return signal or None  # the per-signal variable is a full URL, used as it is


# -- the span tree, as plain data -------------------------------------------------------------------------------


@dataclass
class SpanPlan:
    name: str
    start: float
    end: float
    kind: str = "internal"  # or "client"
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    children: list[SpanPlan] = field(default_factory=list)
    error: str | None = None  # error.type; the span's status is ERROR


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return redact(text)[:CONTENT_CHARS]


def _messages(role: str, text: str) -> str:
    """gen_ai.input.messages / gen_ai.output.messages: a JSON list of messages with text parts."""
    return _text([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _server(endpoint: str) -> dict[str, Any]:
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    out: dict[str, Any] = {"server.address": host} if host else {}
    if port:
        out["server.port"] = port
    return out


@dataclass
class _Scope:
    span: SpanPlan
    boundary: float  # where the next retrieval step of this scope starts
    pending: list[SpanPlan] = field(default_factory=list)  # LLM calls since the last step
    key: tuple[str, str | None] | None = None


class SpanBuilder:
    """Turns one run's events into a :class:`SpanPlan` tree (no OpenTelemetry needed, so it is easy to test)."""

    def __init__(self, content: bool) -> None:
        self.content = content
        now = time.time()
        self.root = SpanPlan("invoke_agent lodestar", now, now, attributes=self._base("invoke_agent"))
        self.root.attributes["gen_ai.agent.name"] = "lodestar"
        self.scopes: list[_Scope] = [_Scope(self.root, now)]
        self.usage = [0, 0]

    @staticmethod
    def _base(operation: str) -> dict[str, Any]:
        return {"gen_ai.operation.name": operation, "gen_ai.provider.name": PROVIDER}

    def _put(self, attributes: dict[str, Any], key: str, value: Any) -> None:
        if self.content and value not in (None, "", [], {}):
            attributes[key] = _text(value)

    def add(self, event: _Event) -> SpanPlan | None:
        """Feed one event; returns the finished root at ``run_end``."""
        scope = self.scopes[-1]
        if isinstance(event, RunStart):
            self.root.start = self.scopes[0].boundary = event.ts
            self.root.attributes.update({"lodestar.mode": event.mode, "lodestar.history_turns": event.history_turns})
            self.root.attributes["gen_ai.conversation.id"] = event.run_id
            if self.content:
                self.root.attributes["gen_ai.input.messages"] = _messages("user", event.question)
        elif isinstance(event, Rewrite):
            self._put(self.root.attributes, "lodestar.standalone_question", event.standalone)
        elif isinstance(event, LlmCall):
            self._llm_call(event, scope)
        elif isinstance(event, Plan):
            attrs: dict[str, Any] = {"lodestar.plan.next": event.next}
            self._put(attrs, "lodestar.plan.thought", event.thought)
            scope.span.events.append(("lodestar.plan", event.ts, attrs))
        elif isinstance(event, ToolCallEvent):
            self._tool_call(event, scope)
        elif isinstance(event, ToolResultEvent):
            self._tool_result(event)
        elif isinstance(event, DocsScored):
            self._docs_scored(event, scope)
        elif isinstance(event, KgStep):
            self._kg_step(event, scope)
        elif isinstance(event, Answer):
            self.root.attributes["lodestar.citations"] = len(event.citations)
            if self.content:
                self.root.attributes["gen_ai.output.messages"] = _messages("assistant", event.text)
        elif isinstance(event, RunEnd):
            return self._finish(event)
        return None

    def _llm_call(self, event: LlmCall, scope: _Scope) -> None:
        attrs = {
            **self._base("chat"),
            "gen_ai.request.model": event.model,
            "gen_ai.usage.input_tokens": event.prompt_tokens,
            "gen_ai.usage.output_tokens": event.completion_tokens,
            "lodestar.role": event.role,
            "lodestar.retries": event.retries,
            "lodestar.cached": event.cached,
            "lodestar.stream": event.stream,
            **_server(event.endpoint),
        }
        self.usage[0] += event.prompt_tokens
        self.usage[1] += event.completion_tokens
        span = SpanPlan(f"chat {event.model}", event.ts - event.latency_s, event.ts, "client", attrs)
        if not event.ok:
            span.error = "llm_error"
            self._put(attrs, "lodestar.error", event.error)
        scope.span.children.append(span)
        scope.pending.append(span)

    def _tool_call(self, event: ToolCallEvent, scope: _Scope) -> None:
        attrs = {
            **self._base("execute_tool"),
            "gen_ai.tool.name": event.name,
            "gen_ai.tool.type": "function",
        }
        if event.step is not None:
            attrs["gen_ai.tool.call.id"] = event.step
        self._put(attrs, "gen_ai.tool.call.arguments", event.arguments)
        span = SpanPlan(f"execute_tool {event.name}", event.ts, event.ts, attributes=attrs)
        scope.span.children.append(span)
        self.scopes.append(_Scope(span, event.ts, key=(event.name, event.step)))

    def _tool_result(self, event: ToolResultEvent) -> None:
        key = (event.name, event.step)
        index = next((i for i in range(len(self.scopes) - 1, 0, -1) if self.scopes[i].key == key), None)
        if index is None:  # a result without its call: a span of its own latency
            self._tool_call(
                ToolCallEvent(name=event.name, step=event.step, ts=event.ts - event.latency_s), self.scopes[-1]
            )
            index = len(self.scopes) - 1
        span = self.scopes.pop(index).span
        span.end = event.ts
        if not event.ok:
            span.error = "tool_error"
            self._put(span.attributes, "lodestar.error", event.error)
        self._put(span.attributes, "gen_ai.tool.call.result", event.output)

    def _step(self, name: str, source: str, event: _Event, scope: _Scope, attrs: dict[str, Any]) -> None:
        """A retrieval step spans from the scope's last step (or its start) to the event, holding the LLM calls
        made in between."""
        span = SpanPlan(name, scope.boundary, event.ts, attributes={**self._base("retrieval"), **attrs})
        span.attributes["gen_ai.data_source.id"] = source
        taken = {id(s) for s in scope.pending}
        scope.span.children = [c for c in scope.span.children if id(c) not in taken]
        span.children, scope.pending = scope.pending, []
        scope.span.children.append(span)
        scope.boundary = event.ts

    def _docs_scored(self, event: DocsScored, scope: _Scope) -> None:
        attrs: dict[str, Any] = {
            "lodestar.rag.documents": len(event.docs),
            "lodestar.rag.kept": len(event.kept),
            "lodestar.rag.threshold": event.threshold,
            "lodestar.rag.n": event.n,
            "lodestar.rag.scoring": event.scoring,
        }
        self._put(attrs, "lodestar.rag.scores", [{"id": d.id, "score": d.score} for d in event.docs])
        self._put(attrs, "lodestar.rag.kept_ids", event.kept)
        self._step("retrieval documents", "documents", event, scope, attrs)

    def _kg_step(self, event: KgStep, scope: _Scope) -> None:
        attrs: dict[str, Any] = {
            "lodestar.kg.depth": event.depth,
            "lodestar.kg.frontier": len(event.frontier),
            "lodestar.kg.candidates": event.candidates,
            "lodestar.kg.kept_paths": len(event.kept),
            "lodestar.kg.sufficient": event.sufficient,
        }
        self._put(attrs, "lodestar.kg.frontier_entities", event.frontier)
        self._put(attrs, "lodestar.kg.paths", event.kept)
        self._step("retrieval graph", "graph", event, scope, attrs)

    def _finish(self, event: RunEnd) -> SpanPlan:
        for scope in self.scopes[1:]:  # tools still running when the run ended (cancelled, failed)
            scope.span.end = event.ts
            scope.span.error = scope.span.error or "cancelled"
        self.root.end = event.ts
        self.root.attributes["gen_ai.usage.input_tokens"] = self.usage[0]
        self.root.attributes["gen_ai.usage.output_tokens"] = self.usage[1]
        self.root.attributes["lodestar.llm_calls"] = event.usage.llm_calls
        if not event.ok:
            self.root.error = "run_error"
            self._put(self.root.attributes, "lodestar.error", event.error)
        return self.root


# -- the exporter -----------------------------------------------------------------------------------------------


class _Exporter:
    """One per collector URL for the whole process: a TracerProvider with a batching, quiet, bounded exporter."""

    def __init__(self, url: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        # the SDK logs every failed batch (and its retries); we say it once, ourselves
        logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)
        self.url = url
        inner = OTLPSpanExporter(endpoint=url, timeout=EXPORT_TIMEOUT_S)
        state = {"warned": False, "down_until": 0.0}

        class Quiet(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                if time.monotonic() < state["down_until"]:
                    return SpanExportResult.FAILURE  # dropped without waiting on a collector that just failed
                try:
                    result = inner.export(spans)
                except Exception:  # an exporter bug must not reach the run
                    result = SpanExportResult.FAILURE
                if result is not SpanExportResult.SUCCESS:
                    state["down_until"] = time.monotonic() + RETRY_AFTER_S
                    if not state["warned"]:
                        state["warned"] = True
                        log.warning("lodestar: warning: OpenTelemetry collector %s not reachable; spans dropped", url)
                return result

            def shutdown(self) -> None:
                inner.shutdown()

        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": "lodestar"}), shutdown_on_exit=False
        )
        self.processor: BatchSpanProcessor = BatchSpanProcessor(
            Quiet(), schedule_delay_millis=500, export_timeout_millis=EXPORT_TIMEOUT_S * 1000
        )
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("lodestar")

    def emit(self, root: SpanPlan) -> None:
        from opentelemetry import trace as otel_trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        def ns(ts: float) -> int:
            return int(ts * 1e9)

        def make(plan: SpanPlan, context: Any) -> None:
            kind = SpanKind.CLIENT if plan.kind == "client" else SpanKind.INTERNAL
            attributes = {k: redact(v) if isinstance(v, str) else v for k, v in plan.attributes.items()}
            if plan.error:
                attributes["error.type"] = plan.error
            span = self.tracer.start_span(
                plan.name, context=context, kind=kind, attributes=attributes, start_time=ns(plan.start)
            )
            if plan.error:
                span.set_status(Status(StatusCode.ERROR))
            for name, ts, attrs in plan.events:
                span.add_event(name, {k: redact(v) if isinstance(v, str) else v for k, v in attrs.items()}, ns(ts))
            child_context = otel_trace.set_span_in_context(span)
            for child in plan.children:
                make(child, child_context)
            span.end(end_time=ns(max(plan.end, plan.start)))

        make(root, None)

    def flush(self, timeout_s: float) -> bool:
        return bool(self.processor.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """The SDK's shutdown waits up to 30 s for a slow collector; a daemon thread bounds the wait."""
        worker = threading.Thread(target=self.processor.shutdown, name="lodestar-otel-shutdown", daemon=True)
        worker.start()
        worker.join(SHUTDOWN_S)


_exporters: dict[str, _Exporter] = {}
_failed: set[str] = set()  # URLs whose exporter could not be made (warned once)
_lock = threading.Lock()


def _exporter(url: str) -> _Exporter:
    with _lock:
        if url not in _exporters:
            if not _exporters:
                atexit.register(shutdown)
            _exporters[url] = _Exporter(url)
        return _exporters[url]


def attach(trace: Trace, settings: TraceSettings) -> bool:
    """Export this run's spans too, when a collector is configured; True when attached."""
    url = traces_url(settings)
    if url is None:
        return False
    try:
        exporter = _exporter(url)
    except Exception as exc:  # the SDK missing or broken: the run goes on without export
        if url not in _failed:
            _failed.add(url)
            log.warning("lodestar: warning: OpenTelemetry export is off: %s", one_line(str(exc), 200))
        return False
    builder = SpanBuilder(settings.otlp_content)
    done = False

    def sink(event: _Event) -> None:
        nonlocal done
        if done:  # a trace reused for another run gets a sink of its own
            return
        try:
            root = builder.add(event)
            if root is not None:
                done = True
                exporter.emit(root)
        except Exception as exc:  # telemetry must never fail a run
            log.warning("lodestar: warning: OpenTelemetry export skipped a run: %s", one_line(str(exc), 200))

    trace.add_sink(sink)
    return True


def flush(timeout_s: float = 5.0) -> bool:
    """Send what is queued now (tests, and front ends that want their spans out before they go on)."""
    return all(exporter.flush(timeout_s) for exporter in list(_exporters.values()))


def shutdown() -> None:
    """Stop every exporter, waiting at most :data:`SHUTDOWN_S` each (registered at exit)."""
    with _lock:
        exporters = list(_exporters.values())
        _exporters.clear()
    for exporter in exporters:
        exporter.shutdown()
