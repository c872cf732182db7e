"""The SPARQL client: the auth header from the environment (never in errors), retries on 503 like the LLM client,
one clear error for an answer that is not SPARQL JSON, and hostile terms from an endpoint refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from agent.core.config import KgSettings
from agent.core.errors import ConfigError, EndpointError
from kg.stores.rdf import term_from_json
from kg.stores.sparql import SparqlStore

SECRET = "Bearer sk-sparql-secret-0123456789"


class Endpoint:
    """A real HTTP server answering SPARQL POSTs from a script: a list of (status, body) replies, last one repeats."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes]] = []
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                outer.seen.append({"auth": self.headers.get("authorization", ""), **parse_qs(body)})
                status, payload = outer.replies[min(len(outer.seen) - 1, len(outer.replies) - 1)]
                self.send_response(status)
                self.send_header("content-type", "application/sparql-results+json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sparql"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def results(*rows: dict) -> bytes:
    return json.dumps({"head": {"vars": ["e"]}, "results": {"bindings": list(rows)}}).encode()


def settings(url: str, **extra) -> KgSettings:
    return KgSettings(backend="sparql", sparql_endpoint=url, sparql_max_retries=3, **extra)


async def test_auth_header_from_the_environment_and_retries(endpoint: Endpoint, monkeypatch) -> None:
    monkeypatch.setenv("KG_AUTH", SECRET)
    endpoint.replies = [(503, b"warming up"), (200, results({"e": {"type": "uri", "value": "http://x.org/a"}}))]
    store = SparqlStore.from_settings(settings(endpoint.url, sparql_auth_env="KG_AUTH"))
    store._policy = type(store._policy)(max_retries=3, budget_s=10, base_s=0.01, max_s=0.05)
    try:
        rows = await store.select("SELECT ?e WHERE { ?e ?p ?o }")
    finally:
        await store.aclose()
    assert rows == [{"e": "<http://x.org/a>"}]
    assert len(endpoint.seen) == 2 and all(s["auth"] == SECRET for s in endpoint.seen)
    assert endpoint.seen[0]["query"] == ["SELECT ?e WHERE { ?e ?p ?o }"]


async def test_errors_are_one_line_without_the_secret(endpoint: Endpoint, monkeypatch) -> None:
    monkeypatch.setenv("KG_AUTH", SECRET)
    endpoint.replies = [(400, f"bad query; you sent {SECRET}".encode())]
    store = SparqlStore.from_settings(settings(endpoint.url, sparql_auth_env="KG_AUTH"))
    with pytest.raises(EndpointError) as caught:
        await store.select("SELECT nonsense")
    assert "HTTP 400" in str(caught.value) and "sk-sparql-secret" not in str(caught.value)
    endpoint.replies = [(200, b'{"not": "results"}')]
    with pytest.raises(EndpointError, match="not SPARQL JSON results"):
        await store.select("SELECT ?e WHERE { ?e ?p ?o }")
    await store.aclose()


def test_missing_auth_variable_names_the_key(monkeypatch) -> None:
    monkeypatch.delenv("KG_AUTH", raising=False)
    with pytest.raises(ConfigError, match="kg.sparql_auth_env"):
        SparqlStore.from_settings(settings("http://127.0.0.1:1/q", sparql_auth_env="KG_AUTH"))


def test_hostile_terms_from_an_endpoint_cannot_break_out_of_a_query() -> None:
    assert term_from_json({"type": "uri", "value": "http://x.org/a> } DROP ALL { <b"}) is None
    assert term_from_json({"type": "literal", "value": "x", "xml:lang": "en } DROP"}) is None
    assert term_from_json({"type": "literal", "value": 'a" } DROP ALL { "'}) == '"a\\" } DROP ALL { \\""'
    assert term_from_json({"type": "bnode", "value": "b0> ?x"}) == "_:b0___x"
