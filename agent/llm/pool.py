"""Replicas, per-endpoint concurrency limits, retries with backoff, and failover.

A :class:`Replica` is one base URL. There is one per URL per event loop, shared by every role and every caller,
so its semaphore is the process-wide concurrency limit for that server. Each hub that uses a replica counts as one
of its owners and releases it when it closes; the HTTP client closes with its last owner, never under another hub.

A :class:`Balancer` spreads one role's calls over the healthy replicas (fewest in flight first) and retries
retryable failures with exponential backoff and full jitter, honouring ``Retry-After``, bounded both in attempts
and in total time.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from agent.core.errors import EndpointError, EndpointUnreachable
from agent.llm.transport import HttpEndpoint, RetryableError, Timeouts

T = TypeVar("T")

DOWN_COOLDOWN_S = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    budget_s: float = 60.0
    base_s: float = 0.5
    max_s: float = 20.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.max_s, self.base_s * 2**attempt))


@dataclass(eq=False)
class Replica:
    url: str
    http: HttpEndpoint
    limit: asyncio.Semaphore
    max_concurrency: int
    in_flight: int = 0
    down_until: float = 0.0
    consecutive_failures: int = 0
    owners: int = 0  # hubs holding it (see release_replicas)

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self.down_until

    def mark_down(self) -> None:
        self.consecutive_failures += 1
        self.down_until = time.monotonic() + min(60.0, DOWN_COOLDOWN_S * self.consecutive_failures)

    def mark_up(self) -> None:
        self.consecutive_failures = 0
        self.down_until = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.limit:
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1


@dataclass
class _LoopReplicas:
    by_url: dict[str, Replica] = field(default_factory=dict)


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopReplicas] = weakref.WeakKeyDictionary()


def get_replica(
    url: str,
    *,
    api_key: str | None,
    max_concurrency: int,
    timeouts: Timeouts,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Replica:
    """The one replica for ``url`` in the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    replicas = _registry.setdefault(loop, _LoopReplicas()).by_url
    replica = replicas.get(url)
    if replica is None:
        http = HttpEndpoint(
            url,
            api_key=api_key,
            headers=headers,
            timeouts=timeouts,
            max_connections=max(max_concurrency, 4),
            transport=transport,
        )
        replica = Replica(url, http, asyncio.Semaphore(max_concurrency), max_concurrency)
        replicas[url] = replica
    return replica


async def release_replicas(replicas: Iterable[Replica]) -> None:
    """One owner lets go of each of ``replicas``; those nobody holds any more are closed and forgotten."""
    entry = _registry.get(asyncio.get_running_loop())
    closing: list[Replica] = []
    for replica in replicas:
        replica.owners -= 1
        if replica.owners <= 0:
            if entry is not None and entry.by_url.get(replica.url) is replica:
                del entry.by_url[replica.url]
            closing.append(replica)
    await asyncio.gather(*(r.http.aclose() for r in closing), return_exceptions=True)


#: Backoff jitter for unseeded balancers. One per process: seeding a fresh ``random.Random`` from the OS costs more
#: than the rest of making a balancer, and a hub makes one per role handle.
_JITTER = random.Random()


class Balancer:
    """Calls one of several replicas serving the same model, with retries and failover."""

    def __init__(self, replicas: list[Replica], policy: RetryPolicy, *, seed: int | None = None) -> None:
        if not replicas:
            raise ValueError("a balancer needs at least one replica")
        self.replicas = replicas
        self.policy = policy
        self._rng = random.Random(seed) if seed is not None else _JITTER
        self._turn = 0

    def _pick(self, exclude: set[str]) -> Replica:
        if len(self.replicas) == 1:  # the common case: nothing to choose
            return self.replicas[0]
        healthy = [r for r in self.replicas if r.healthy and r.url not in exclude]
        if not healthy:
            healthy = [r for r in self.replicas if r.url not in exclude] or self.replicas
            healthy = [min(healthy, key=lambda r: r.down_until)]
        self._turn += 1
        # fewest in flight first; rotate among equals so idle replicas share the load
        return min(
            healthy,
            key=lambda r: (r.in_flight / r.max_concurrency, (self.replicas.index(r) - self._turn) % len(self.replicas)),
        )

    async def call(self, fn: Callable[[Replica], Awaitable[T]]) -> tuple[T, int, Replica]:
        """Run ``fn`` on a replica, retrying retryable failures; return (result, retries, replica used)."""
        started = time.monotonic()
        retries = 0
        tried: set[str] = set()
        while True:
            replica = self._pick(tried)
            try:
                # replica.slot() inlined: an async context manager costs more than the rest of this loop per call
                async with replica.limit:
                    replica.in_flight += 1
                    try:
                        result = await fn(replica)
                    finally:
                        replica.in_flight -= 1
                replica.mark_up()
                return result, retries, replica
            except EndpointError as exc:
                if not exc.retryable:
                    raise
                delay = self._after_failure(replica, exc, retries, started, tried)
            retries += 1
            if delay:
                await asyncio.sleep(delay)

    @asynccontextmanager
    async def stream(
        self, open_stream: Callable[[Replica], Any]
    ) -> AsyncIterator[tuple[AsyncIterator[dict[str, Any]], int, Replica]]:
        """Open a stream on a replica; retries happen only until the first event arrives."""
        started = time.monotonic()
        retries = 0
        tried: set[str] = set()
        delivered = False
        while True:
            replica = self._pick(tried)
            try:
                async with replica.slot(), open_stream(replica) as events:
                    iterator = aiter(events)
                    try:
                        first = await anext(iterator)
                    except StopAsyncIteration:
                        first = None
                    replica.mark_up()
                    delivered = True
                    yield _prepend(first, iterator), retries, replica
                    return
            except EndpointError as exc:
                if not exc.retryable or delivered:  # once events reached the caller, a retry would repeat them
                    raise
                delay = self._after_failure(replica, exc, retries, started, tried)
            retries += 1
            if delay:
                await asyncio.sleep(delay)

    def _after_failure(
        self, replica: Replica, exc: EndpointError, retries: int, started: float, tried: set[str]
    ) -> float:
        """Decide whether and when to try again; raise the final error when the budget is spent."""
        if isinstance(exc, (EndpointUnreachable, RetryableError)) and exc.status is None:
            replica.mark_down()
            tried.add(replica.url)
            if any(r.healthy and r.url not in tried for r in self.replicas):
                if retries < self.policy.max_retries:
                    return 0.0  # fail over at once to another replica
        if len(tried) >= len(self.replicas):
            tried.clear()
        elapsed = time.monotonic() - started
        retry_after = getattr(exc, "retry_after_s", None)
        # the server's Retry-After wins over our own backoff; only the total budget bounds it
        delay = retry_after if retry_after is not None else self.policy.backoff(retries, self._rng)
        if retries >= self.policy.max_retries or elapsed + delay > self.policy.budget_s:
            asked = ""
            if retry_after is not None and elapsed + retry_after > self.policy.budget_s:
                asked = (
                    f"; the server asked to retry in {_duration(retry_after)} (Retry-After), beyond the retry "
                    f"budget of {_duration(self.policy.budget_s)}: try again later"
                )
            exc.args = (f"{exc.args[0]} (gave up after {retries + 1} attempts in {elapsed:.1f} s{asked})",)
            raise exc
        return delay


def _duration(seconds: float) -> str:
    """3600 -> "an hour", 90 -> "1.5 minutes", 5 -> "5 s": how a person says a wait."""
    if seconds >= 3600:
        hours = seconds / 3600
        return "an hour" if round(hours, 1) == 1 else f"{hours:.1f} hours"
    if seconds >= 60:
        minutes = seconds / 60
        return (
            "a minute"
            if round(minutes, 1) == 1
            else f"{minutes:g} minutes"
            if minutes.is_integer()
            else f"{minutes:.1f} minutes"
        )
    return f"{seconds:g} s"


async def _prepend(first: dict[str, Any] | None, rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    if first is None:
        return
    yield first
    async for event in rest:
        yield event
