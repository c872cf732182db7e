"""Configuration: file + environment, role inheritance, and one-line errors that name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.config import load_settings
from agent.core.errors import ConfigError


def test_no_config_means_the_embedded_default(home: Path) -> None:
    settings = load_settings()
    assert settings.uses_local
    judge = settings.role("judge")
    assert judge.endpoints == ["local"] and judge.model == "smollm2-135m-instruct"
    assert settings.home == home


def test_openai_environment_variables_configure_the_default_endpoint(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-abcdefgh")
    monkeypatch.setenv("LODESTAR_MODEL", "my-model")
    settings = load_settings()
    endpoint = settings.endpoints["default"]
    assert endpoint.base_url == "http://127.0.0.1:9/v1"
    assert endpoint.resolved_api_key() == "sk-env-key-abcdefgh"
    assert all(settings.role(r).model == "my-model" for r in ("planner", "judge"))
    assert "sk-env-key" not in repr(settings) and "sk-env-key" not in settings.model_dump_json()


def test_changing_one_roles_model_is_one_line(home: Path) -> None:
    (home.parent / "lodestar.toml").write_text(
        """
[endpoints.big]
base_url = "http://127.0.0.1:9/v1"
[endpoints.small]
base_url = "http://127.0.0.1:8/v1"
replicas = ["http://127.0.0.1:7/v1"]
[roles.default]
model = "big-model"
temperature = 0.2
[roles.judge]
endpoint = "small"
model = "small-model"
"""
    )
    settings = load_settings()
    assert settings.role("planner").model == "big-model" and settings.role("planner").endpoints == ["big"]
    judge = settings.role("judge")
    assert (judge.model, judge.endpoints, judge.temperature) == ("small-model", ["small"], 0.2)
    assert settings.endpoints["small"].urls() == ["http://127.0.0.1:8/v1", "http://127.0.0.1:7/v1"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[roles.judge]\ntemperature = "hot"', "roles.judge.temperature"),
        ("[roles.critic]\nmodel = 'x'", "unknown role 'critic'"),
        ("[endpoints.a]\nbase_url = 'http://x/v1'\nmax_concurrency = 0", "endpoints.a.max_concurrency"),
        ("[rag]\ntop_kk = 3", "rag.top_kk"),
        ("[roles.judge]\nendpoint = 'nowhere'", "no endpoint named 'nowhere'"),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_invalid_config_is_one_line_naming_key_and_file(home: Path, toml: str, expected: str) -> None:
    path = home.parent / "lodestar.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message and "lodestar.toml" in message and "\n" not in message


def test_explicit_missing_config_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(home / "nope.toml")


def test_the_name_local_is_reserved(home: Path) -> None:
    (home.parent / "lodestar.toml").write_text("[endpoints.local]\nbase_url = 'http://x/v1'\n")
    with pytest.raises(ConfigError, match="reserved"):
        load_settings()
