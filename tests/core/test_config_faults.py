"""Config validation and credentials in URLs (issue 15, items 9 and 20)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import app
from agent.core.config import load_settings
from agent.core.errors import ConfigError
from agent.core.secrets import redact
from agent.testing.fake_openai import FakeOpenAIServer


def _config(home: Path, body: str) -> Path:
    path = home.parent / "lodestar.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("url", ["ftp://host/v1", "localhost:8080/v1", "not a url", "http:///v1"])
def test_a_base_url_that_is_not_http_is_a_config_error(home: Path, url: str) -> None:
    path = _config(home, f'[endpoints.main]\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError, match=r"endpoints\.main\.base_url: .*http:// or https://"):
        load_settings(path)


def test_an_error_in_roles_default_names_roles_default(home: Path) -> None:
    path = _config(home, '[endpoints.main]\nbase_url = "http://h/v1"\n[roles.default]\nendpoint = "nope"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "roles.default.endpoint" in str(caught.value) and "roles.planner" not in str(caught.value)


def test_credentials_in_the_url_move_into_a_basic_header(home: Path) -> None:
    path = _config(home, '[endpoints.main]\nbase_url = "http://alice:t0k%40en-value-42@h.example:8080/v1"\n')
    endpoint = load_settings(path).endpoints["main"]
    assert endpoint.base_url == "http://h.example:8080/v1"
    expected = base64.b64encode(b"alice:t0k@en-value-42").decode()
    assert endpoint.headers["Authorization"] == f"Basic {expected}"
    assert "t0k" not in redact("http://alice:t0k%40en-value-42@h.example:8080/v1 and t0k@en-value-42")
    assert expected not in redact(f"header {expected}")


def test_a_url_with_credentials_works_end_to_end_and_never_shows_them(
    home: Path, fake_server: FakeOpenAIServer, capsys, tmp_path: Path
) -> None:
    url = fake_server.base_url.replace("http://", "http://bob:s3cret-url-token@")
    _config(home, f'[endpoints.main]\nbase_url = "{url}"\nmax_retries = 0\n[roles.default]\nmodel = "fake-model"\n')
    fake_server.reply("Polaris.")
    trace = tmp_path / "t.jsonl"
    assert app.main(["ask", "--mode", "direct", "--trace", str(trace), "Which star?"]) == 0
    out, err = capsys.readouterr()
    assert "Polaris." in out
    sent = fake_server.chat_requests[-1].headers
    assert sent.get("authorization", sent.get("Authorization", "")).startswith("Basic ")
    assert "s3cret-url-token" not in trace.read_text() + out + err
    assert app.main(["doctor"]) == 0
    out, err = capsys.readouterr()
    assert "s3cret-url-token" not in out + err and "bob:" not in out + err


def test_a_bad_url_from_the_environment_names_the_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000/v1")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("OPENAI_BASE_URL: ") and "http://" in str(caught.value)
