"""The LLM hub: turns settings into role handles and owns the embedded server's lifetime.

``async with LLMHub(settings) as hub: llm = hub.llm("judge", trace)``. Replicas (and so concurrency limits) are
shared by every role that points at the same URL. Capabilities are probed once per endpoint and model and cached
on disk, so the algorithms can choose their fallbacks without paying for a probe each run.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

import httpx

from agent.core.config import LOCAL_ENDPOINT, ROLES, ResolvedRole, Settings
from agent.core.errors import EndpointError
from agent.core.trace import Trace
from agent.llm.capabilities import Capabilities, load_cached, save_cached
from agent.llm.client import LLM
from agent.llm.local_server import LocalServer
from agent.llm.pool import Balancer, Replica, RetryPolicy, get_replica, release_replicas
from agent.llm.probe import probe
from agent.llm.transport import Timeouts

if TYPE_CHECKING:
    from agent.llm.cache import ResponseCache


class LLMHub:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        local_url: str | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache  # an on-disk response cache shared by every LLM the hub makes (None: off)
        self._transport = transport
        self._local: LocalServer | None = None
        self.local_url = local_url
        self._caps: dict[tuple[str, str], Capabilities] = {}
        self.resources: dict[str, Any] = {}  # higher layers' per-hub helpers (the sandbox pool); aclose()d with it
        self._owned: set[Replica] = set()  # the replicas this hub opened (or joined): exactly those it releases

    async def __aenter__(self) -> LLMHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start the embedded server if any role needs it and no URL was given for it."""
        needs_local = any(LOCAL_ENDPOINT in self.settings.role(r).endpoints for r in ROLES)
        if needs_local and self.local_url is None:
            self._local = LocalServer(self.settings.local, log_path=self.settings.home / "logs" / "local-server.log")
            self.local_url = await self._local.__aenter__()

    async def aclose(self) -> None:
        owned, self._owned = self._owned, set()
        try:
            await release_replicas(owned)
        finally:
            resources, self.resources = list(self.resources.values()), {}
            for resource in resources:
                with contextlib.suppress(Exception):  # one helper's failure must not keep the others open
                    await resource.aclose()
            if self._local is not None:
                self._local.stop()
                self._local = None

    # -- roles --------------------------------------------------------------------------------------------------

    def _local_url_or_fail(self) -> str:
        if self.local_url is None:
            raise EndpointError("the embedded server is not running (use the hub as a context manager)")
        return self.local_url

    def _replicas(self, role: ResolvedRole) -> tuple[list[Replica], RetryPolicy]:
        replicas: list[Replica] = []
        policy: RetryPolicy | None = None
        for name in role.endpoints:
            if name == LOCAL_ENDPOINT:
                local = self.settings.local
                replicas.append(
                    get_replica(
                        self._local_url_or_fail(),
                        api_key=None,
                        max_concurrency=local.max_concurrency,
                        timeouts=Timeouts(10.0, 600.0),
                        transport=self._transport,
                    )
                )
                policy = policy or RetryPolicy(max_retries=2, budget_s=30.0)
                continue
            endpoint = self.settings.endpoints[name]
            for url in endpoint.urls():
                replicas.append(
                    get_replica(
                        url,
                        api_key=endpoint.resolved_api_key(),
                        max_concurrency=endpoint.max_concurrency,
                        timeouts=Timeouts(endpoint.connect_timeout_s, endpoint.read_timeout_s),
                        headers=endpoint.headers,
                        transport=self._transport,
                    )
                )
            policy = policy or RetryPolicy(
                endpoint.max_retries, endpoint.retry_budget_s, endpoint.backoff_base_s, endpoint.backoff_max_s
            )
        for replica in replicas:
            if replica not in self._owned:
                replica.owners += 1
                self._owned.add(replica)
        return replicas, policy or RetryPolicy()

    def llm(self, role: str, trace: Trace | None = None) -> LLM:
        """The handle for ``role``, with whatever capabilities are known (probed, cached, or optimistic)."""
        resolved = self.settings.role(role)
        replicas, policy = self._replicas(resolved)
        caps = self._known_capabilities(replicas[0].url, resolved.model)
        return LLM(resolved, Balancer(replicas, policy), capabilities=caps, trace=trace, cache=self.cache)

    def _known_capabilities(self, url: str, model: str) -> Capabilities:
        key = (url, model)
        if key not in self._caps:  # read the disk cache once; optimistic defaults until a probe says otherwise
            self._caps[key] = load_cached(self.settings.cache_dir, url, model) or Capabilities()
        return self._caps[key]

    async def capabilities(self, role: str, *, refresh: bool = False) -> Capabilities:
        """Probe (or read from cache) what ``role``'s endpoint can do."""
        llm = self.llm(role).with_cache(None)  # a probe must see the endpoint, not yesterday's answers
        key = (llm.balancer.replicas[0].url, llm.model)
        if not refresh:
            known = self._known_capabilities(*key)
            if known.probed and not known.unsure:  # a transient failure last time: ask again
                return known
        caps = await probe(llm)
        if caps.context_length is None and key[0] == self.local_url:
            caps.context_length = self.settings.local.n_ctx  # llama-cpp-python's /models does not say; we chose it
        self._caps[key] = caps
        save_cached(self.settings.cache_dir, caps)
        _warn_missing(caps)
        return caps

    async def probe_all(self, roles: tuple[str, ...] = ROLES) -> None:
        """Make sure every distinct (endpoint, model) among ``roles`` has probed capabilities."""
        seen: set[tuple[str, str]] = set()
        for role in roles:
            llm = self.llm(role)
            key = (llm.balancer.replicas[0].url, llm.model)
            if key not in seen:
                seen.add(key)
                await self.capabilities(role)

    def describe_roles(self) -> dict[str, str]:
        """``{role: "model @ url, …"}`` for every role, read from the settings (cheap: once per question)."""
        return {name: self._describe(self.settings.role(name)) for name in ROLES}

    def _describe(self, role: ResolvedRole) -> str:
        urls: list[str] = []
        for name in role.endpoints:
            urls.extend([self._local_url_or_fail()] if name == LOCAL_ENDPOINT else self.settings.endpoints[name].urls())
        return f"{role.model} @ {', '.join(urls)}"

    def connect_roles(self) -> None:
        """Build every role's HTTP clients now rather than on the first question."""
        for name in ROLES:
            self.llm(name)


def _warn_missing(caps: Capabilities) -> None:
    """One stderr line when a fresh probe found features missing (modes then use their fallbacks), and one when
    a transient failure left some unknown (probed again on the next run)."""
    missing = caps.missing()
    where = f"{caps.endpoint} ({caps.model})"
    if missing:
        detail = "; ".join(f"{name}: {caps.notes[name]}" if name in caps.notes else name for name in missing)
        print(
            f"lodestar: warning: {where} lacks {', '.join(missing)}; using fallbacks ({detail[:300]})", file=sys.stderr
        )
    if caps.unsure:
        print(
            f"lodestar: warning: {where}: could not probe {', '.join(caps.unsure)} (a transient failure); "
            "assuming they work, and probing again on the next run",
            file=sys.stderr,
        )
