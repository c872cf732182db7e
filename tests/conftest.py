"""Shared fixtures: a real fake OpenAI server over loopback, isolated data folders, settings and hubs."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from agent.core.config import Settings, load_settings
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LODESTAR_HOME, with no stray endpoint variables from the developer's shell."""
    data = tmp_path / "home"
    monkeypatch.setenv("LODESTAR_HOME", str(data))
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LODESTAR_MODEL", "LODESTAR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return data


def write_config(
    path: Path,
    base_url: str,
    *,
    extra: str = "",
    max_concurrency: int = 8,
    max_retries: int = 4,
    budget_s: float = 10.0,
) -> Path:
    path.write_text(
        f"""
[endpoints.main]
base_url = "{base_url}"
api_key = "sk-test-secret-123456789"
max_concurrency = {max_concurrency}
max_retries = {max_retries}
retry_budget_s = {budget_s}
backoff_base_s = 0.01
backoff_max_s = 0.2
read_timeout_s = 5

[roles.default]
model = "fake-model"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def settings(home: Path, fake_server: FakeOpenAIServer) -> Settings:
    """Settings pointing every role at the fake server, with fast retries."""
    return load_settings(write_config(home.parent / "lodestar.toml", fake_server.base_url))


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[LLMHub]:
    async with LLMHub(settings) as running:
        yield running


@pytest.fixture(scope="session")
def local_server_url() -> Iterator[str]:
    """The real llama.cpp server with the bundled SmolLM2 model, started once for the e2e tests."""
    import asyncio

    from agent.llm.local_server import LocalServer

    server = LocalServer(log_path=Path(os.environ.get("TMPDIR", "/tmp")) / "lodestar-e2e-llama.log")
    server.start()
    try:
        asyncio.run(server.wait_ready())
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture
def local_settings(home: Path, local_server_url: str) -> Settings:
    """Settings whose every role points at the shared real llama.cpp server."""
    config = home.parent / "lodestar.toml"
    config.write_text(
        f"""
[endpoints.llama]
base_url = "{local_server_url}"
max_concurrency = 1
read_timeout_s = 600

[roles.default]
model = "smollm2-135m-instruct"
max_tokens = 64
""",
        encoding="utf-8",
    )
    return load_settings(config)


@pytest.fixture
def use_mode(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Any], None]:
    """Swap one mode's handler in the mode table for this test: ``use_mode("kg", fake_kg)``."""
    from agent.run import modes

    def swap(name: str, handler: Any) -> None:
        monkeypatch.setitem(modes.MODES, name, dataclasses.replace(modes.MODES[name], answer=handler))

    return swap


async def unavailable_mode(question: str, hub: Any, trace: Any, on_delta: Any, /) -> Any:
    """A mode whose data or feature is missing: it fails with bad input before any LLM call."""
    from agent.core.errors import BadInputError

    raise BadInputError("this mode is not available here (try --mode direct)")


@pytest.fixture(scope="session")
def pyodide_runtime() -> Path:
    """The Pyodide npm package for sandbox tests, fetched with npm once per machine (tools/sandbox/runner.py)."""
    import tempfile

    from agent.core.config import SandboxSettings
    from tools.sandbox.runner import pyodide_dir

    cache = Path(os.environ.get("LODESTAR_TEST_CACHE") or Path(tempfile.gettempdir()) / "lodestar-test-cache")
    return pyodide_dir(SandboxSettings(), cache)
