"""The role handle that algorithms call: ``await llm.complete(messages)``, ``llm.stream(...)``, ``llm.complete_json``.

An :class:`LLM` is one role (planner, caller, summarizer, judge, explorer) bound to its model, sampling settings,
replicas and, optionally, the run's :class:`~agent.core.trace.Trace`; every call is accounted there as an ``llm_call``
event. Algorithms in ``rag/`` and ``kg/`` take an ``LLM`` and never see HTTP.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from agent.core.config import ResolvedRole
from agent.core.errors import EndpointError, LodestarError, ModelOutputError
from agent.core.trace import AnswerDelta, LlmCall, Trace
from agent.llm import structured, wire
from agent.llm.capabilities import Capabilities
from agent.llm.pool import Balancer, Replica

if TYPE_CHECKING:
    from agent.llm.cache import ResponseCache

T = TypeVar("T", bound=BaseModel)
MessageLike = wire.Message | dict[str, Any]
CHAT_PATH = "/chat/completions"
# A server that ignores max_tokens must not hand us megabytes to print, trace and re-send in every later prompt:
# the text kept of one reply is bounded by what max_tokens allows (a token is ~4 characters; 8 leaves room).
CHARS_PER_TOKEN_CAP = 8
CUT_NOTE = " …[output cut: the server sent more than max_tokens allows]"


def output_cap(request: wire.ChatRequest) -> int:
    """The most characters of reply text kept for ``request``."""
    return (request.max_tokens or 4096) * CHARS_PER_TOKEN_CAP + 1024


class Completion(BaseModel):
    """One finished chat completion, whichever way it was obtained (plain, streamed, cached)."""

    text: str = ""
    tool_calls: list[wire.ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    logprobs: list[wire.TokenLogprob] | None = None
    usage: wire.TokenUsage = Field(default_factory=wire.TokenUsage)
    latency_s: float = 0.0
    retries: int = 0
    model: str = ""
    endpoint: str = ""

    def first_token_top_logprobs(self) -> dict[str, float] | None:
        """``{token: logprob}`` of the first generated position, or None when the server gave none."""
        if not self.logprobs:
            return None
        first = self.logprobs[0]
        tops = {t.token: t.logprob for t in first.top_logprobs}
        tops.setdefault(first.token, first.logprob)
        return tops


def _estimate_tokens(messages: Sequence[wire.Message]) -> int:
    return sum(len((m.content or "").split()) for m in messages)


class LLM:
    """One role: model + sampling defaults + replicas (+ the run's trace)."""

    def __init__(
        self,
        role: ResolvedRole,
        balancer: Balancer,
        *,
        capabilities: Capabilities | None = None,
        trace: Trace | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.role = role
        self.balancer = balancer
        self.capabilities = capabilities or Capabilities()
        self.trace = trace
        self.cache = cache
        #: schema name -> how many structured-output formats this endpoint refused (shared by ``bind`` copies)
        self.refused_formats: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self.role.name

    @property
    def model(self) -> str:
        return self.role.model

    def bind(self, trace: Trace | None) -> LLM:
        """The same role recording into ``trace`` (shares replicas, limits, capabilities and refused formats)."""
        bound = LLM(self.role, self.balancer, capabilities=self.capabilities, trace=trace, cache=self.cache)
        bound.refused_formats = self.refused_formats
        return bound

    def with_capabilities(self, capabilities: Capabilities) -> LLM:
        return LLM(self.role, self.balancer, capabilities=capabilities, trace=self.trace, cache=self.cache)

    def with_cache(self, cache: ResponseCache | None) -> LLM:
        """The same role reading and writing ``cache`` (None: always ask the endpoint, e.g. to probe it)."""
        return LLM(self.role, self.balancer, capabilities=self.capabilities, trace=self.trace, cache=cache)

    def describe(self) -> str:
        return f"{self.model} @ {', '.join(r.url for r in self.balancer.replicas)}"

    # -- requests -----------------------------------------------------------------------------------------------

    def build_request(self, messages: Sequence[MessageLike], **options: Any) -> wire.ChatRequest:
        role = self.role
        params: dict[str, Any] = {
            "model": role.model,
            "messages": list(messages),  # dicts are validated as wire.Message with the request
            "temperature": role.temperature,
            "top_p": role.top_p,
            "max_tokens": role.max_tokens,
            "seed": role.seed,
        }
        params.update({k: v for k, v in options.items() if v is not None})
        if isinstance(params.get("stop"), str):
            params["stop"] = [params["stop"]]
        return wire.ChatRequest.model_validate(params)

    # -- response cache (opt-in; see agent/llm/cache.py) ---------------------------------------------------------------

    def _cache_key(self, payload: dict[str, Any]) -> str | None:
        if self.cache is None:
            return None
        return self.cache.key(self.balancer.replicas[0].url, payload, self.trace)

    async def _cached(self, key: str | None) -> Completion | None:
        if key is None or self.cache is None:
            return None
        value = await self.cache.get(key)
        if value is None:
            return None
        try:
            return Completion.model_validate_json(value)
        except ValidationError:
            return None  # an entry from an older format: ask again

    async def _store(self, key: str | None, completion: Completion) -> None:
        if key is not None and self.cache is not None:
            await self.cache.put(key, completion.model_dump_json())

    def _record(
        self,
        completion: Completion | None,
        *,
        started: float,
        retries: int,
        stream: bool,
        error: BaseException | None = None,
        endpoint: str = "",
        cached: bool = False,
    ) -> None:
        if self.trace is None:
            return
        usage = completion.usage if completion else wire.TokenUsage()
        self.trace.emit(
            LlmCall(
                role=self.role.name,
                model=self.role.model,
                endpoint=completion.endpoint if completion else endpoint,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                latency_s=round(time.perf_counter() - started, 4),
                retries=retries,
                cached=cached,
                stream=stream,
                ok=error is None,
                error=str(error) if error else None,
            )
        )

    async def complete(self, messages: Sequence[MessageLike], **options: Any) -> Completion:
        """One chat completion. Options are ChatRequest fields (temperature, max_tokens, stop, logprobs, …)."""
        request = self.build_request(messages, **options)
        started = time.perf_counter()
        cache_key = self._cache_key(request.payload()) if self.cache is not None else None
        body = request.model_dump_json(exclude_none=True).encode()  # one pass, no dict in between
        if cache_key is not None and (hit := await self._cached(cache_key)) is not None:
            hit.latency_s, hit.retries = round(time.perf_counter() - started, 4), 0
            self._record(hit, started=started, retries=0, stream=False, cached=True)
            return hit

        async def attempt(replica: Replica) -> tuple[wire.ChatResponse | None, str]:
            return await replica.http.post_model(CHAT_PATH, body, wire.ChatResponse), replica.url

        try:
            (response, url), retries, _ = await self.balancer.call(attempt)
        except EndpointError as exc:
            self._record(None, started=started, retries=0, stream=False, error=exc)
            raise
        if response is None:
            error = ModelOutputError(f"{url}: the response is not a chat completion")
            self._record(None, started=started, retries=retries, stream=False, error=error, endpoint=url)
            raise error from None
        if not response.choices:
            error = ModelOutputError(f"{url}: the response has no choices")
            self._record(None, started=started, retries=retries, stream=False, error=error, endpoint=url)
            raise error
        choice = response.choices[0]
        usage = response.usage or wire.TokenUsage(
            prompt_tokens=_estimate_tokens(request.messages),
            completion_tokens=len((choice.message.content or "").split()),
        )
        text, finish = choice.message.content or "", choice.finish_reason
        if len(text) > (cap := output_cap(request)):
            text, finish = text[:cap] + CUT_NOTE, "length"
        completion = Completion(
            text=text,
            tool_calls=choice.message.tool_calls or [],
            finish_reason=finish,
            logprobs=choice.logprobs.content if choice.logprobs else None,
            usage=usage,
            latency_s=round(time.perf_counter() - started, 4),
            retries=retries,
            model=response.model or request.model,
            endpoint=url,
        )
        self._record(completion, started=started, retries=retries, stream=False)
        if cache_key is not None:
            await self._store(cache_key, completion)
        return completion

    @asynccontextmanager
    async def stream(self, messages: Sequence[MessageLike], **options: Any) -> AsyncIterator[ChatStream]:
        """Stream a completion: ``async with llm.stream(m) as s: async for piece in s: …``; then ``s.completion``.

        Leaving the block early (or cancelling the task) closes the HTTP stream.
        """
        request = self.build_request(messages, stream=True, stream_options={"include_usage": True}, **options)
        chat_stream = ChatStream(self, request)
        try:
            yield chat_stream
        finally:
            await chat_stream.aclose()

    async def respond(
        self, messages: Sequence[MessageLike], on_delta: Callable[[str], None] | None = None, **options: Any
    ) -> str:
        """The reply's text: streamed through ``on_delta`` when someone watches and the endpoint streams, else one
        plain call (cheaper for batches: one response instead of an event per token)."""
        if on_delta is not None and self.capabilities.streaming:
            async with self.stream(messages, **options) as stream:
                async for piece in stream:
                    on_delta(piece)
            return stream.completion.text if stream.completion else ""
        text = (await self.complete(messages, **options)).text
        if on_delta is not None and text:
            on_delta(text)
        return text

    async def complete_json(
        self,
        messages: Sequence[MessageLike],
        schema: type[T],
        *,
        name: str | None = None,
        repairs: int = 2,
        **options: Any,
    ) -> T:
        """A reply validated against ``schema`` (see :mod:`agent.llm.structured` for how it is asked for); on failure
        the problem is fed back for ``repairs`` more tries, then :class:`ModelOutputError`."""
        return await structured.complete_json(self, messages, schema, name=name, repairs=repairs, **options)

    async def complete_structured(
        self, messages: Sequence[MessageLike], schema: dict[str, Any], name: str, **options: Any
    ) -> Completion:
        """A completion constrained to ``schema`` as far as the endpoint allows; the caller parses it."""
        return await structured.complete_structured(self, messages, schema, name, **options)


class ChatStream:
    """An open streamed completion. Iterate for text pieces; ``completion`` holds the whole result at the end."""

    def __init__(self, llm: LLM, request: wire.ChatRequest) -> None:
        self._llm = llm
        self._request = request
        self.completion: Completion | None = None
        self._pieces: list[str] = []
        self._tool_calls: dict[int, dict[str, str]] = {}
        self._logprobs: list[wire.TokenLogprob] = []
        self._usage: wire.TokenUsage | None = None
        self._finish: str | None = None
        self._started = time.perf_counter()
        self._gen: Any = None

    def __aiter__(self) -> AsyncIterator[str]:
        if self._gen is None:
            self._gen = self._iterate()
        return self._gen

    async def _iterate(self) -> AsyncIterator[str]:
        payload = self._request.payload()
        balancer = self._llm.balancer
        cache_key = self._llm._cache_key(payload)
        if (hit := await self._llm._cached(cache_key)) is not None:  # served as a single piece
            async for piece in self._replay(hit):
                yield piece
            return

        def open_stream(replica: Replica) -> Any:
            return replica.http.stream_sse(CHAT_PATH, payload)

        retries = 0
        url = ""
        try:
            async with balancer.stream(open_stream) as (events, retries, replica):
                url = replica.url
                room = output_cap(self._request)
                async for event in events:
                    pieces = self._absorb(wire.ChatChunk.model_validate(event))
                    room -= sum(len(p) for p in pieces)
                    if room < 0:  # the server ignores max_tokens: keep what fits, say so, stop reading
                        pieces = self._cut(pieces, room)
                    for piece in pieces:
                        if self._llm.trace is not None:
                            self._llm.trace.emit(AnswerDelta(text=piece))
                        yield piece
                    if room < 0:
                        break
        except EndpointError as exc:
            failure: LodestarError = exc
            if self._pieces:
                failure = ModelOutputError(
                    f"the answer stream was cut after {len(''.join(self._pieces))} characters: {exc}"
                )
            self._llm._record(None, started=self._started, retries=retries, stream=True, error=failure, endpoint=url)
            raise failure from None
        self.completion = self._finish_completion(retries, url)
        self._llm._record(self.completion, started=self._started, retries=retries, stream=True)
        await self._llm._store(cache_key, self.completion)

    async def _replay(self, hit: Completion) -> AsyncIterator[str]:
        hit.latency_s, hit.retries = round(time.perf_counter() - self._started, 4), 0
        self.completion = hit
        self._llm._record(hit, started=self._started, retries=0, stream=True, cached=True)
        if hit.text:
            self._pieces.append(hit.text)
            if self._llm.trace is not None:
                self._llm.trace.emit(AnswerDelta(text=hit.text))
            yield hit.text

    def _absorb(self, chunk: wire.ChatChunk) -> list[str]:
        if chunk.usage is not None:
            self._usage = chunk.usage
        pieces: list[str] = []
        for choice in chunk.choices[:1]:
            if choice.finish_reason:
                self._finish = choice.finish_reason
            if choice.logprobs and choice.logprobs.content:
                self._logprobs.extend(choice.logprobs.content)
            delta = choice.delta
            if delta.content:
                self._pieces.append(delta.content)
                pieces.append(delta.content)
            for call in delta.tool_calls or []:
                slot = self._tool_calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                if call.id:
                    slot["id"] = call.id
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
        return pieces

    def _cut(self, pieces: list[str], overshoot: int) -> list[str]:
        """Trim ``pieces`` (already absorbed) by ``-overshoot`` characters and end them with the cut note."""
        excess = -overshoot
        kept = list(pieces)
        while excess > 0 and kept:
            last = kept.pop()
            if len(last) > excess:
                kept.append(last[: len(last) - excess])
            excess -= len(last)
        del self._pieces[len(self._pieces) - len(pieces) :]
        kept.append(CUT_NOTE)
        self._pieces.extend(kept)
        self._finish = "length"
        return kept

    def _finish_completion(self, retries: int, url: str) -> Completion:
        text = "".join(self._pieces)
        usage = self._usage or wire.TokenUsage(
            prompt_tokens=_estimate_tokens(self._request.messages), completion_tokens=len(self._pieces)
        )
        return Completion(
            text=text,
            tool_calls=[
                wire.ToolCall(id=c["id"], function=wire.FunctionCall(name=c["name"], arguments=c["arguments"]))
                for _, c in sorted(self._tool_calls.items())
            ],
            finish_reason=self._finish,
            logprobs=self._logprobs or None,
            usage=usage,
            latency_s=round(time.perf_counter() - self._started, 4),
            retries=retries,
            model=self._request.model,
            endpoint=url,
        )

    async def text(self) -> str:
        """Drain the stream and return the whole text."""
        async for _ in self:
            pass
        return self.completion.text if self.completion else ""

    async def aclose(self) -> None:
        """Close the HTTP stream if the consumer stopped early (break, error, cancellation)."""
        if self._gen is not None:
            await self._gen.aclose()


def logsumexp(values: Sequence[float]) -> float:
    if not values:
        return float("-inf")
    top = max(values)
    if top == float("-inf"):
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))
