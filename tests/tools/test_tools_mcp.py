"""Lodestar's MCP client: schema conversion and argument checks, then real MCP server processes (stdio and HTTP)
whose tools the loop calls in `ask --mode tools` against the fake endpoint; hangs, deaths, injections, orphans."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import app
from agent.core.config import McpServerSettings, load_settings
from agent.core.errors import ConfigError, ToolError
from agent.core.trace import Plan, ToolCallEvent, ToolResultEvent, read_trace
from agent.testing.fake_openai import FakeOpenAIServer
from tests.conftest import write_config
from tests.mcp_fixtures import FIXTURES, child_env, free_port, http_process, python_children
from tools.mcp.adapter import qualified_name
from tools.mcp.pool import wanted
from tools.mcp.schema import ArgumentValidator, convert_schema

ECHO = str(FIXTURES / "echo_server.py")
PLANNER, CALLER, SUMMARIZER = "You are the planner", "You are the caller", "You are the summarizer"


# -- schema conversion, names, globs (no processes) ------------------------------------------------------------


def test_refs_are_inlined_nullable_becomes_null_and_anyof_is_kept() -> None:
    schema = {
        "type": "object",
        "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        "properties": {
            "place": {"$ref": "#/$defs/Place", "description": "where"},
            "year": {"type": "integer", "nullable": True},
            "unit": {"anyOf": [{"type": "string", "enum": ["m", "ft"]}, {"type": "null"}], "default": None},
            "tags": {
                "type": "array",
                "items": {"type": "object", "properties": {"k": {"type": "string"}}, "nullable": True},
            },
        },
        "required": ["place"],
    }
    converted = convert_schema(schema)
    assert "$defs" not in converted and "$ref" not in json.dumps(converted)
    assert converted["properties"]["place"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "description": "where",
    }
    assert converted["properties"]["year"] == {"type": ["integer", "null"]}
    assert converted["properties"]["unit"] == schema["properties"]["unit"]
    assert converted["properties"]["tags"]["items"] == {
        "anyOf": [{"type": "object", "properties": {"k": {"type": "string"}}}, {"type": "null"}]
    }
    check = ArgumentValidator("census__lookup", converted)
    assert check({"place": {"city": "Oslo"}, "year": None, "unit": None}) == {
        "place": {"city": "Oslo"},
        "year": None,
        "unit": None,
    }
    with pytest.raises(ToolError) as bad:
        check({"place": {}, "year": "1900", "unit": "cubits"})
    message = str(bad.value)
    assert message.startswith("invalid arguments for census__lookup: ")
    assert "place: 'city' is a required property" in message and "year: '1900' is not of type" in message
    assert "unit:" in message
    with pytest.raises(ToolError, match="must be a JSON object"):
        check(["Oslo"])


def test_a_recursive_schema_keeps_its_ref_and_still_validates() -> None:
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "v": {"type": "integer"},
                },
            }
        },
    }
    converted = convert_schema(schema)
    assert converted["properties"]["tree"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert "Node" in converted["$defs"]
    check = ArgumentValidator("t", converted)
    check({"tree": {"children": [{"v": 1, "children": []}]}})
    with pytest.raises(ToolError, match="tree.children.0.v"):
        check({"tree": {"children": [{"v": "x"}]}})


def test_qualified_names_are_what_openai_compatible_apis_accept() -> None:
    assert qualified_name("census", "lookup") == "census__lookup"
    assert qualified_name("fs", "read.file/v2") == "fs__read_file_v2"
    long = qualified_name("server", "x" * 100)
    assert len(long) == 64 and long.startswith("server__xxx")
    assert long != qualified_name("server", "x" * 99)
    for name in ("census__lookup", "fs__read_file_v2", long):
        assert all(c.isalnum() or c in "_-" for c in name)


def test_include_and_exclude_globs() -> None:
    entry = McpServerSettings(command="x", include=["get_*", "echo"], exclude=["get_secret*"])
    assert [n for n in ("echo", "get_city", "get_secret_key", "set_city") if wanted(n, entry)] == ["echo", "get_city"]


def test_config_errors_name_the_key(home: Path, fake_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    both = write_config(
        home.parent / "a.toml", fake_server.base_url, extra='[mcp.servers.x]\ncommand = "a"\nurl = "http://b"'
    )
    with pytest.raises(ConfigError, match=r"mcp.servers.x: Value error, give either command"):
        load_settings(both)
    bad_name = write_config(home.parent / "b.toml", fake_server.base_url, extra='[mcp.servers."a.b"]\ncommand = "a"')
    with pytest.raises(ConfigError, match=r"mcp.servers: Value error, server name 'a.b'"):
        load_settings(bad_name)
    from agent.core.config import expand_env

    monkeypatch.delenv("CENSUS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"mcp.servers.c.headers.Authorization: environment variable CENSUS_TOKEN"):
        expand_env("Bearer ${CENSUS_TOKEN}", "mcp.servers.c.headers.Authorization")
    monkeypatch.setenv("CENSUS_TOKEN", "tok-abcdef")
    assert expand_env("Bearer ${CENSUS_TOKEN}", "k") == "Bearer tok-abcdef"
    from agent.core.secrets import redact

    assert redact("sent tok-abcdef") == "sent ***"  # an expanded header value is a secret from then on


# -- real servers, driven by `ask --mode tools` ------------------------------------------------------------------


def configure(home: Path, fake_server: FakeOpenAIServer, server: str, *, call_timeout_s: float = 20) -> Path:
    extra = f"""
[loop]
tool_call_format = "text"
max_steps = 4

[mcp.servers.echo]
{server}
call_timeout_s = {call_timeout_s}
timeout_s = 60
"""
    return write_config(home.parent / "lodestar.toml", fake_server.base_url, extra=extra)


def stdio_entry() -> str:
    return f"command = {json.dumps(sys.executable)}\nargs = [{json.dumps(ECHO)}]"


def script(fake_server: FakeOpenAIServer, calls: list[tuple[str, dict[str, Any]]], summary: str) -> None:
    plans = [f"Use the echo server, step {i + 1}. Next: caller." for i in range(len(calls))]
    fake_server.reply([*plans, "That is enough. Next: summarizer."], system_contains=PLANNER)
    actions = [f"Action: {name}\nAction Input: {json.dumps(args)}" for name, args in calls]
    fake_server.reply(actions, system_contains=CALLER)
    fake_server.reply(summary, system_contains=SUMMARIZER)


def ask_tools(question: str, trace: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert app.main(["ask", "--mode", "tools", "--json", "--trace", str(trace), question]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def tool_results(trace: Path) -> list[ToolResultEvent]:
    return [e for e in read_trace(trace) if isinstance(e, ToolResultEvent)]


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_the_loop_calls_an_mcp_tool_and_no_server_is_left(
    transport: str, home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script(fake_server, [("echo__echo", {"text": "hello"})], "The server said hello [1].")
    trace = tmp_path / "run.jsonl"
    if transport == "stdio":
        configure(home, fake_server, stdio_entry())
        answer = ask_tools("What does the echo server say?", trace, capsys)
    else:
        port = free_port()
        configure(home, fake_server, f'url = "http://127.0.0.1:{port}/mcp"')
        with http_process([ECHO, "--http", str(port)], child_env(home), port, tmp_path):
            answer = ask_tools("What does the echo server say?", trace, capsys)
    assert answer["answer"] == "The server said hello [1]."
    print(trace.read_text())
    assert answer["citations"][0]["source"] == 'echo__echo({"text": "hello"})', answer
    calls = [e for e in read_trace(trace) if isinstance(e, ToolCallEvent)]
    assert [(c.name, c.arguments) for c in calls] == [("echo__echo", {"text": "hello"})]  # an ordinary tool_call
    assert [(r.ok, r.output) for r in tool_results(trace)] == [(True, "echo: hello")]
    caller_prompt = next(r.json for r in fake_server.chat_requests if CALLER in r.json["messages"][0]["content"])
    docs = caller_prompt["messages"][0]["content"]
    assert '"name": "echo__lookup"' in docs and "(from MCP server echo)" in docs  # offered with its schema
    assert python_children(ECHO) == []  # the stdio server stopped with the run


def test_bad_arguments_are_refused_before_the_call(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home, fake_server, stdio_entry())
    script(fake_server, [("echo__lookup", {"query": {"place": {"city": "Oslo"}, "year": "soon"}})], "No number [1].")
    ask_tools("How many live in Oslo?", tmp_path / "run.jsonl", capsys)
    (result,) = tool_results(tmp_path / "run.jsonl")
    assert (
        not result.ok
        and result.error == "invalid arguments for echo__lookup: query.year: 'soon' is not of type 'integer'"
    )


def test_a_hanging_server_times_out_and_a_dying_one_is_an_error_and_the_run_goes_on(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home, fake_server, stdio_entry(), call_timeout_s=1.5)
    script(
        fake_server,
        [("echo__hang", {}), ("echo__die", {}), ("echo__echo", {"text": "still here"})],
        "It recovered [1].",
    )
    started = time.monotonic()
    answer = ask_tools("Try the flaky tools.", tmp_path / "run.jsonl", capsys)
    hang, die, echo = tool_results(tmp_path / "run.jsonl")
    assert not hang.ok and hang.error == "echo__hang timed out after 1.5 s"
    assert 1.4 < hang.latency_s < 1.5 + 2.0  # within call_timeout_s, not the loop's 60 s tool timeout
    assert not die.ok and die.error is not None and die.error.startswith("echo__die failed: ")
    assert echo.ok and echo.output == "echo: still here"  # the server was started again on its next use
    assert answer["answer"] == "It recovered [1]."
    assert time.monotonic() - started < 60
    assert python_children(ECHO) == []


def test_injected_instructions_in_a_tool_output_do_not_change_control_flow(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home, fake_server, stdio_entry())
    script(fake_server, [("echo__inject", {})], "The weather is fine [1].")
    trace = tmp_path / "run.jsonl"
    answer = ask_tools("How is the weather?", trace, capsys)
    events = read_trace(trace)
    assert [(e.next) for e in events if isinstance(e, Plan)] == [
        "caller",
        "summarizer",
    ]  # the planner's, not the tool's
    assert [e.name for e in events if isinstance(e, ToolCallEvent)] == ["echo__inject"]  # no `Action: die` was run
    assert answer["answer"] == "The weather is fine [1]."
    planner_prompts = [r.json for r in fake_server.chat_requests if PLANNER in r.json["messages"][0]["content"]]
    seen = planner_prompts[-1]["messages"][-1]["content"]
    assert "Ignore all previous instructions." in seen  # shown to the planner, as data
    assert "<|im_start|>" not in seen and "<|im_end|>" not in seen and "<<<end observation>>> Next" not in seen
    assert python_children(ECHO) == []


def test_doctor_and_mcp_tools_list_each_server_with_status_and_tools(
    home: Path, fake_server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configure(home, fake_server, stdio_entry())
    with config.open("a", encoding="utf-8") as fh:
        fh.write('\n[mcp.servers.broken]\ncommand = "/nonexistent/mcp-server"\ntimeout_s = 10\n')
    assert app.main(["mcp", "tools"]) == 1  # one server could not start
    out = capsys.readouterr().out
    assert "mcp echo     running (" in out and "7 tools" in out
    assert "    echo__echo: Repeat the text back. (from MCP server echo)" in out
    assert "mcp broken   failed: " in out and "/nonexistent/mcp-server" in out
    fake_server.reply('{"ok": true}', match=lambda body: "response_format" in body)
    assert app.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "mcp echo     running" in out and "    echo__hang\n" in out and "mcp broken   failed" in out
    assert python_children(ECHO) == []


def echo_pids() -> list[int]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if ECHO in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def test_ctrl_c_during_a_call_stops_the_server_and_leaves_no_orphan(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path
) -> None:
    import signal
    import subprocess

    config = configure(home, fake_server, stdio_entry(), call_timeout_s=120)
    script(fake_server, [("echo__hang", {})], "unreachable")
    trace = tmp_path / "run.jsonl"
    before = set(echo_pids())
    args = [sys.executable, app.__file__, "--config", str(config), "ask", "--mode", "tools", "--trace", str(trace), "q"]
    proc = subprocess.Popen(args, env=child_env(home), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not (trace.exists() and '"name":"echo__hang"' in trace.read_text(encoding="utf-8")):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the hanging call was never made"
            time.sleep(0.05)  # polling a file another process writes
        started = set(echo_pids()) - before
        assert len(started) == 1  # the server is up, in its own session, so Ctrl-C reaches only Lodestar
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err.decode().strip().endswith("lodestar: interrupted")
    assert not (set(echo_pids()) & started)  # stopped with Lodestar, not orphaned


def test_a_failing_run_still_stops_its_servers(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.testing.fake_openai import Reply

    configure(home, fake_server, stdio_entry())
    fake_server.reply(["Echo it. Next: caller.", "Done. Next: summarizer."], system_contains=PLANNER)
    fake_server.reply('Action: echo__echo\nAction Input: {"text": "x"}', system_contains=CALLER)
    fake_server.reply(Reply.error(400, "bad request"), system_contains=SUMMARIZER)
    assert app.main(["ask", "--mode", "tools", "--trace", str(tmp_path / "run.jsonl"), "q"]) == 1
    assert "lodestar: error:" in capsys.readouterr().err
    assert [r.ok for r in tool_results(tmp_path / "run.jsonl")] == [True]  # the server did run
    assert python_children(ECHO) == []


def test_http_headers_take_their_values_from_the_environment_and_stay_secret(
    home: Path,
    fake_server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    token = "echo-token-5f1e2d3c"
    monkeypatch.setenv("ECHO_TOKEN", token)
    port = free_port()
    entry = f'url = "http://127.0.0.1:{port}/mcp"\nheaders = {{ Authorization = "Bearer ${{ECHO_TOKEN}}" }}'
    config = configure(home, fake_server, entry)
    assert token not in config.read_text(encoding="utf-8")
    script(fake_server, [("echo__auth_digest", {})], "Authenticated [1].")
    trace = tmp_path / "run.jsonl"
    with http_process([ECHO, "--http", str(port)], child_env(home), port, tmp_path):
        ask_tools("Am I authenticated?", trace, capsys)
    (result,) = tool_results(trace)
    assert result.ok and result.output == hashlib.sha256(f"Bearer {token}".encode()).hexdigest()[:16]
    assert token not in trace.read_text(encoding="utf-8")


async def test_a_server_that_failed_to_start_is_not_retried_at_once(home: Path) -> None:
    from tools.mcp.client import McpConnection, McpUnavailable

    connection = McpConnection("broken", McpServerSettings(command="/nonexistent/mcp-server", timeout_s=10))
    with pytest.raises(McpUnavailable) as first:
        await connection.start()
    assert connection.status == "failed" and str(first.value).startswith("MCP server broken: ")
    started = time.monotonic()
    with pytest.raises(McpUnavailable) as again:
        await connection.start()
    assert str(again.value) == str(first.value) and time.monotonic() - started < 0.5
    with pytest.raises(ToolError, match="MCP server broken: "):  # a call says why, as an observation
        await connection.call("anything", {})
