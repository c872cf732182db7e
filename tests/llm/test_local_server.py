"""The embedded default against the real llama.cpp server with the bundled SmolLM2 model (end to end)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from agent.core.config import LocalSettings
from agent.core.errors import LocalServerError
from agent.llm.hub import LLMHub
from agent.llm.local_server import LocalServer, bundled_model_path
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def _llama_servers(parent: int | None = None) -> set[int]:
    """PIDs of running llama_cpp.server processes (only ``parent``'s children when given)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)
            if b"llama_cpp.server" in cmdline and (parent is None or ppid == parent):
                found.add(int(entry.name))
    return found


def _wait_gone(pids: set[int], timeout: float = 15) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = pids & _llama_servers()
        if not alive:
            return set()
        time.sleep(0.2)
    return pids & _llama_servers()


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LODESTAR_"))}
    env["LODESTAR_HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


def test_the_bundled_model_ships_in_the_wheel() -> None:
    path = bundled_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_ask_direct_on_the_embedded_default_starts_and_stops_the_server(tmp_path: Path) -> None:
    before = _llama_servers()
    proc = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "ask", "--mode", "direct", "--json", "What is a compass?"],
        capture_output=True,
        text=True,
        env=_clean_env(tmp_path),
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["answer"].strip(), "the embedded model gave an empty answer"
    assert result["usage"]["llm_calls"] == 1 and result["usage"]["completion_tokens"] > 0
    assert not _wait_gone(_llama_servers() - before), "the embedded server outlived the command"


def test_probe_reports_what_llama_cpp_really_does(local_server_url: str, local_settings) -> None:
    import asyncio

    async def probe():
        async with LLMHub(local_settings) as hub:
            return await hub.capabilities("judge", refresh=True)

    caps = asyncio.run(probe())
    ask = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Say yes."}], "max_tokens": 1}
    with httpx.Client(base_url=local_server_url, timeout=120) as client:
        raw = client.post("/chat/completions", json={**ask, "logprobs": True, "top_logprobs": 5}).json()
        logprobs = raw["choices"][0].get("logprobs")
        models = client.get("/models").json()
    has_logprobs = bool(logprobs) and bool(logprobs.get("content") or logprobs.get("top_logprobs"))
    assert caps.streaming is True
    assert caps.logprobs is has_logprobs
    assert caps.json_schema or "json_schema" in caps.notes  # either works, or we recorded why not
    assert caps.tool_calls or "tool_calls" in caps.notes
    if "meta" in models["data"][0]:
        assert caps.context_length == models["data"][0]["meta"].get("n_ctx_train")


def test_ctrl_c_on_serve_local_leaves_no_orphan(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "serve-local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        line = proc.stdout.readline()
        assert "serving the embedded model at http://127.0.0.1:" in line, proc.stderr.read()
        children = _llama_servers(parent=proc.pid)
        assert len(children) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert not _wait_gone(children), "llama.cpp server left running after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_killing_lodestar_outright_still_stops_the_server(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "serve-local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_clean_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert "serving" in proc.stdout.readline()
        children = _llama_servers(parent=proc.pid)
        proc.kill()  # SIGKILL: no finally blocks run; the kernel's parent-death signal must do it
        proc.wait(timeout=10)
        assert not _wait_gone(children), "llama.cpp server orphaned by SIGKILL"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_broken_model_file_is_a_one_line_start_up_error(tmp_path: Path) -> None:
    import asyncio

    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF not really a model")
    server = LocalServer(LocalSettings(model_path=str(bogus), startup_timeout_s=60), log_path=tmp_path / "log")

    async def start() -> None:
        async with server:
            pass

    with pytest.raises(LocalServerError, match="exited during start-up"):
        asyncio.run(start())
    assert server.pid is None


def test_serve_local_on_a_port_in_use_fails_at_once(fake_server, home: Path, capsys) -> None:
    """Issue 15, item 14: another server on --port must not pass for ours."""
    import app

    started = time.monotonic()
    assert app.main(["serve-local", "--port", str(fake_server.port)]) == 1
    err = capsys.readouterr().err
    assert f"port {fake_server.port} is already in use" in err and err.count("\n") == 1
    assert time.monotonic() - started < 10 and not fake_server.requests
