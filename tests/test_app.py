"""The CLI: exit codes, one-line errors, `ask --mode direct` streaming and `--json`, run in-process and as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import app
from agent.core.trace import read_trace
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.conftest import REPO, write_config


def test_ask_direct_streams_the_answer(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    fake_server.reply(Reply(content="Polaris, the North Star."))
    assert app.main(["ask", "--mode", "direct", "Which", "star?"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "Polaris, the North Star."
    assert "1 LLM calls" in err
    assert fake_server.chat_requests[-1].json["stream"] is True
    assert fake_server.chat_requests[-1].json["messages"][-1]["content"] == "Which star?"


def test_ask_json_prints_one_object(settings, fake_server: FakeOpenAIServer, capsys, tmp_path: Path) -> None:
    fake_server.reply("Harrison.")
    trace_file = tmp_path / "run.jsonl"
    assert app.main(["ask", "--mode", "direct", "--json", "--trace", str(trace_file), "Who made H4?"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    data = json.loads(out[0])
    assert set(data) == {"question", "answer", "mode", "citations", "usage", "trace_file"}
    assert data["answer"] == "Harrison." and data["mode"] == "direct" and data["question"] == "Who made H4?"
    assert data["usage"]["llm_calls"] == 1 and data["usage"]["completion_tokens"] > 0
    assert data["trace_file"] == str(trace_file)
    types = [e.type for e in read_trace(trace_file)]
    assert types == ["run_start", "llm_call", "answer", "run_end"]


def test_trace_goes_under_lodestar_home_by_default(settings, fake_server, capsys, home: Path) -> None:
    assert app.main(["ask", "--mode", "direct", "--json", "hello?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert Path(data["trace_file"]).parent == home / "traces"


@pytest.mark.parametrize("argv", [["ask", "--mode", "direct", "   "], ["ask", "--mode", "nonsense", "q"]])
def test_bad_input_exits_2_with_one_line(settings, capsys, argv: list[str]) -> None:
    assert app.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)


@pytest.mark.parametrize(("mode", "hint"), [("rag", "lodestar ingest"), ("kg", "lodestar kg load")])
def test_missing_data_fails_before_any_model_server_starts(home: Path, capsys, mode: str, hint: str) -> None:
    """On the embedded default, `ask --mode rag|kg` with nothing loaded must not spend a minute starting llama.cpp."""
    assert app.main(["ask", "--mode", mode, "What is a lodestone?"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and hint in err[0]
    assert not (home / "logs" / "local-server.log").exists()


def test_bad_config_exits_2_naming_key_and_file(home: Path, capsys) -> None:
    (home.parent / "lodestar.toml").write_text("[roles.judge]\ntemperature = 'hot'\n")
    assert app.main(["ask", "--mode", "direct", "q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "roles.judge.temperature" in err and "lodestar.toml" in err


def test_endpoint_errors_exit_1_without_traceback(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    fake_server.fail_every(1, status=401)
    assert app.main(["ask", "--mode", "direct", "q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("lodestar: error:") and "HTTP 401" in err and "\n" not in err
    assert "sk-test-secret" not in err


def test_unreachable_endpoint_exits_1_within_the_retry_budget(tmp_path: Path) -> None:
    dead = FakeOpenAIServer()
    dead.start()
    url = dead.base_url
    dead.stop()
    config = write_config(tmp_path / "lodestar.toml", url, max_retries=3, budget_s=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LODESTAR_"))}
    env["LODESTAR_HOME"] = str(tmp_path / "home")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--config", str(config), "ask", "--mode", "direct", "hello?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert url in lines[0] and "connection refused" in lines[0]
    assert elapsed < 5 + 10  # the retry budget plus interpreter start-up


def test_doctor_lists_roles_capabilities_and_latency(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    fake_server.reply('{"ok": true}', match=lambda body: "response_format" in body)
    assert app.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for role in ("planner", "caller", "summarizer", "judge", "explorer"):
        assert out.count(f"{role} ") >= 1
    assert "fake-model @ " + fake_server.base_url in out
    assert "streaming=yes" in out and "logprobs=yes" in out and "json_schema=yes" in out
    assert "tool_calls=no" in out  # the default reply carries no tool call
    assert "context_length=2048" in out and "round trip" in out
    assert out.count("round trip") == 1  # one endpoint+model: probed once
