"""The ``sparql`` backend: any SPARQL 1.1 endpoint (``oxigraph serve``, Virtuoso, QLever, a Wikidata-like
service), read-only, at ``[kg] sparql_endpoint``.

Requests go through the LLM client's HTTP stack: :class:`~agent.llm.transport.HttpEndpoint` (bounded connect and
read timeouts, typed retryable errors, redacted messages) under a one-replica
:class:`~agent.llm.pool.Balancer` (the same retry policy: exponential backoff with full jitter, ``Retry-After``,
an attempt and a time budget). An ``Authorization`` header can come from the environment variable named by
``[kg] sparql_auth_env``; it is never logged. Entity linking is answered by the endpoint itself (literal labels
matched through its own index), so ``ask --mode kg`` works on a fresh LODESTAR_HOME.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from agent.core.config import KgSettings
from agent.core.errors import ConfigError, EndpointError
from agent.llm.pool import Balancer, Replica, RetryPolicy
from agent.llm.transport import HttpEndpoint, Timeouts
from kg.stores.rdf import RdfStore, Row, term_from_json

RESULTS_JSON = "application/sparql-results+json"


class SparqlStore(RdfStore):
    backend = "sparql"

    def __init__(
        self,
        endpoint: str,
        *,
        headers: dict[str, str] | None = None,
        timeouts: Timeouts = Timeouts(connect_s=5.0, read_s=30.0),
        policy: RetryPolicy = RetryPolicy(max_retries=3, budget_s=60.0),
        max_concurrency: int = 4,
    ) -> None:
        super().__init__(labels=None, location=endpoint)
        self.endpoint = endpoint
        self._headers = headers or {}
        self._timeouts = timeouts
        self._policy = policy
        self._max_concurrency = max_concurrency
        self._balancer: Balancer | None = None
        self._http: HttpEndpoint | None = None

    @classmethod
    def from_settings(cls, settings: KgSettings) -> SparqlStore:
        if not settings.sparql_endpoint:
            raise ConfigError("kg.sparql_endpoint: required when kg.backend = 'sparql'")
        headers = {}
        if settings.sparql_auth_env:
            value = os.environ.get(settings.sparql_auth_env)
            if not value:
                raise ConfigError(f"kg.sparql_auth_env: the environment variable {settings.sparql_auth_env} is not set")
            headers["Authorization"] = value
        return cls(
            settings.sparql_endpoint,
            headers=headers,
            timeouts=Timeouts(connect_s=settings.sparql_connect_timeout_s, read_s=settings.sparql_timeout_s),
            policy=RetryPolicy(max_retries=settings.sparql_max_retries, budget_s=4 * settings.sparql_timeout_s),
            max_concurrency=settings.sparql_max_concurrency,
        )

    def _pool(self) -> Balancer:
        if self._balancer is None:  # in the running loop, on first use
            self._http = HttpEndpoint(
                self.endpoint, headers=self._headers, timeouts=self._timeouts, max_connections=self._max_concurrency
            )
            replica = Replica(
                self.endpoint, self._http, asyncio.Semaphore(self._max_concurrency), self._max_concurrency
            )
            self._balancer = Balancer([replica], self._policy)
        return self._balancer

    async def select(self, query: str) -> list[Row]:
        async def ask(replica: Replica) -> Any:
            return await replica.http.post_form("", {"query": query}, accept=RESULTS_JSON)

        data, _, _ = await self._pool().call(ask)
        bindings = data.get("results", {}).get("bindings") if isinstance(data, dict) else None
        if not isinstance(bindings, list):
            raise EndpointError(f"{self.endpoint}: the answer is not SPARQL JSON results", url=self.endpoint)
        rows: list[Row] = []
        for binding in bindings:
            if isinstance(binding, dict):
                rows.append({k: term_from_json(v) if isinstance(v, dict) else None for k, v in binding.items()})
        return rows

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http, self._balancer = None, None
