"""Endpoint errors that say what to do (issue 15, item 21): a web page where the API should be, and a server
asking us to come back in an hour."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import app
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.conftest import write_config


class _Page(BaseHTTPRequestHandler):
    def _page(self) -> None:
        body = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", ["direct", "tools"])
def test_a_web_page_is_not_an_openai_api(home: Path, web_page: str, capsys, mode: str) -> None:
    write_config(home.parent / "lodestar.toml", web_page, max_retries=3, budget_s=5)
    assert app.main(["ask", "--mode", mode, "q?"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not an OpenAI-compatible API" in err and "base_url" in err, err
    assert "[DONE]" not in err and "gave up after" not in err  # not retried: retrying cannot help


def test_retry_after_an_hour_says_so(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    fake_server.reply(Reply.error(429, "rate limited", retry_after=3600))
    assert app.main(["ask", "--mode", "direct", "q?"]) == 1
    err = capsys.readouterr().err.strip()
    assert "an hour" in err and "Retry-After" in err, err
    assert len(fake_server.chat_requests) == 1  # gave up at once, as before
