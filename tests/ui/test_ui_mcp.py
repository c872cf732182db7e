"""The TUI shows an MCP server's tool call in the work pane like any other tool call (a real stdio server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agent.core.config import load_settings
from agent.testing.fake_openai import FakeOpenAIServer
from tests.conftest import write_config
from tests.mcp_fixtures import FIXTURES, python_children
from tests.ui_fixtures import wait_settled
from tools.mcp.pool import shutdown_all
from ui.app import LodestarApp
from ui.widgets.run import RunView

ECHO = str(FIXTURES / "echo_server.py")


async def test_an_mcp_call_appears_in_the_work_pane(home: Path, fake_server: FakeOpenAIServer) -> None:
    extra = f"""
[loop]
tool_call_format = "text"

[mcp.servers.echo]
command = {json.dumps(sys.executable)}
args = [{json.dumps(ECHO)}]
"""
    settings = load_settings(write_config(home.parent / "lodestar.toml", fake_server.base_url, extra=extra))
    fake_server.reply(
        ["Ask the echo server. Next: caller.", "Done. Next: summarizer."], system_contains="You are the planner"
    )
    fake_server.reply('Action: echo__echo\nAction Input: {"text": "ahoy"}', system_contains="You are the caller")
    fake_server.reply("It said ahoy [1].", system_contains="You are the summarizer")
    app = LodestarApp(settings, mode="tools")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            box = app.query_one("#question")
            box.focus()
            box.value = "What does the echo server say?"  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_settled(pilot, timeout=60)
            run = app.query_one(RunView)
            (call,) = list(run.query(".tool"))
            assert call.title == "tool 1: echo__echo ✓"  # type: ignore[attr-defined]
            assert "echo: ahoy" in str(call.query_one(".tool-body").render())
    finally:
        await shutdown_all()  # the CLI does this when its loop ends (app._run); here the test's loop is the app's
    assert python_children(ECHO) == []
