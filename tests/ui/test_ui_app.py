"""The chat TUI driven by Textual's Pilot over the fake OpenAI server: real keys, clicks and HTTP streams."""

from __future__ import annotations

import asyncio
import html
import sqlite3
import time
from pathlib import Path

import pytest
from textual.events import MouseDown, MouseMove, MouseScrollDown, MouseScrollUp, MouseUp
from textual.widgets import DataTable, Input, Select, Tree

from agent.core.config import Settings
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.conftest import unavailable_mode
from tests.ui_fixtures import CHUNK_TEXT, showcase_mode, wait_for, wait_settled
from ui.app import LodestarApp
from ui.history import HistoryStore
from ui.screens.citation import CitationScreen
from ui.screens.help import HelpScreen
from ui.screens.history import HistoryScreen
from ui.screens.settings import SettingsScreen
from ui.widgets.chat import AnswerMessage, CitationList, UserMessage
from ui.widgets.run import RunView
from ui.widgets.work import WorkPane

SIZE = (120, 40)
SECRET = "sk-test-secret-123456789"  # the key tests/conftest.write_config puts in the config


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


async def submit(pilot, question: str) -> None:
    box = pilot.app.query_one("#question", Input)
    box.focus()
    box.value = question
    await pilot.press("enter")


def notifications(app: LodestarApp) -> list[tuple[str, str]]:
    return [(n.severity, n.message) for n in app._notifications]


def last_answer(app: LodestarApp) -> AnswerMessage:
    return list(app.query(AnswerMessage))[-1]


def footer(answer: AnswerMessage) -> str:
    return str(answer.query_one(".answer-footer").render())


async def test_typed_question_streams_the_answer_incrementally(settings: Settings, fake_server: FakeOpenAIServer):
    first = "Polaris is the **North Star**, the lodestar of sailors."
    rest = " It sits almost exactly above the north celestial pole, so its altitude gives latitude."
    fake_server.reply(Reply(content=first + "\n\n" + rest, chunk_delay_s=0.1), last_user_contains="Which star")
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#question")
        await pilot.press(*"Which", "space", *"star?")
        assert app.query_one("#question", Input).value == "Which star?"
        await pilot.press("enter")
        answer = last_answer(app)
        await wait_for(pilot, lambda: "lodestar" in answer.body.source)
        assert app.answering
        first_block = answer.body.children[0]
        await wait_settled(pilot)
        body = answer.body
        assert body.source.strip() == (first + "\n\n" + rest).strip()
        assert body.children[0] is first_block  # appended to, never re-rendered from scratch
        assert answer.live is not None and answer.live.appends > 3  # rendered piece by piece
        assert next(m.render() for m in app.query(UserMessage)).plain == "Which star?"
        assert "direct · 1 LLM call" in footer(answer)
        run = app.query_one(RunView)
        assert run.finished and run.usage.llm_calls == 1
        assert "summarizer" in " ".join(str(w.render()) for w in run.query(".llm-call"))
    assert fake_server.chat_requests[-1].json["messages"][-1]["content"] == "Which star?"


async def test_escape_cancels_mid_stream_and_closes_the_connection(settings, fake_server, home: Path):
    fake_server.reply(Reply(content=words(400), chunk_delay_s=0.05), times=1)
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "Tell me everything")
        answer = last_answer(app)
        await wait_for(pilot, lambda: answer.live is not None and answer.live.rendered_chars > 0)
        assert fake_server.in_flight == 1
        await pilot.press("escape")
        await wait_settled(pilot)
        await wait_for(pilot, lambda: fake_server.in_flight == 0, timeout=5)
        assert answer.status == "cancelled" and "cancelled" in footer(answer)
        partial = answer.text
        assert partial.startswith("word0") and len(partial) < len(words(400))
        # the app keeps working: the next question is answered
        fake_server.reply("Still here.", last_user_contains="Are you there")
        await submit(pilot, "Are you there?")
        await wait_settled(pilot)
        assert last_answer(app).text == "Still here."
    store = HistoryStore(home / "history.sqlite3")
    messages = store.messages(store.conversations()[0].id)
    assert [(m.role, m.status) for m in messages] == [
        ("user", "ok"),
        ("assistant", "cancelled"),
        ("user", "ok"),
        ("assistant", "ok"),
    ]
    assert messages[1].content == partial


async def test_switch_mode_and_see_the_work_live(use_mode, settings, fake_server, monkeypatch: pytest.MonkeyPatch):
    use_mode("rag", showcase_mode)
    fake_server.reply(
        Reply(content="Harrison's **H4** kept time to 5 seconds [1].", chunk_delay_s=0.01), last_user_contains="H4"
    )
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")  # direct -> rag
        assert app.mode == "rag" and app.query_one("#mode", Select).value == "rag"
        await submit(pilot, "How good was H4?")
        await wait_settled(pilot)
        answer = last_answer(app)
        assert answer.status == "ok" and answer.mode == "rag"
        run = app.query_one(RunView)
        assert "planner" in str(run.query_one(".plan").render())
        table = run.query_one(".docs-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[1] for r in rows] == ["Harrison's H4", "John Harrison", "The astrolabe"]  # by score
        assert [r[3] for r in rows] == ["kept", "kept", "dropped"]
        trees = list(run.query(Tree))
        assert len(trees) == 2
        assert "H4 —made_by→ John Harrison —born_in→ Foulby" in [
            str(leaf.label) for leaf in trees[1].root.children[-1].children
        ]
        tools = list(run.query(".tool"))
        assert [t.title.endswith("✓") for t in tools] == [True, False]
        assert ("warning", "division by zero") in notifications(app)  # the failed tool, as a notification
        # choose the mode with the mouse too
        await pilot.click("#mode")
        await pilot.press("up", "up", "enter")  # rag -> direct -> auto
        assert app.mode == "auto"


async def test_citations_open_in_a_modal(use_mode, settings, fake_server, monkeypatch):
    use_mode("rag", showcase_mode)
    fake_server.reply("Harrison's H4 [1].", last_user_contains="H4")
    app = LodestarApp(settings, mode="rag")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "Who made H4?")
        await wait_settled(pilot)
        citations = last_answer(app).query_one(CitationList)
        assert citations.display and citations.option_count == 3
        await pilot.click(citations, offset=(5, 0))  # the first citation
        await wait_for(pilot, lambda: isinstance(app.screen, CitationScreen))
        assert CHUNK_TEXT in str(app.screen.query_one("#citation-body").render())
        await pilot.press("y")
        assert app.clipboard == CHUNK_TEXT
        await pilot.press("escape")
        assert not isinstance(app.screen, CitationScreen)
        citations.focus()
        await pilot.press("down", "down", "enter")  # keyboard: the tool result
        await wait_for(pilot, lambda: isinstance(app.screen, CitationScreen))
        assert '"hits": 3' in str(app.screen.query_one("#citation-body").render())


async def test_unavailable_mode_is_a_notification_and_the_app_goes_on(use_mode, settings, fake_server, monkeypatch):
    use_mode("kg", unavailable_mode)
    app = LodestarApp(settings, mode="kg")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "Who made H4?")
        await wait_settled(pilot)
        assert any(sev == "warning" and "not available" in msg for sev, msg in notifications(app))
        assert last_answer(app).status == "error" and "not available" in footer(last_answer(app))
        run = app.query_one(RunView)
        assert run.finished and run.has_class("-failed")
        app.set_mode("direct")
        fake_server.reply("Harrison.")
        await submit(pilot, "Who made H4?")
        await wait_settled(pilot)
        assert last_answer(app).text == "Harrison."


async def test_endpoint_error_is_one_line_and_recoverable(settings, fake_server):
    fake_server.fail_every(1, status=401)
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "Hello?")
        await wait_settled(pilot)
        errors = [msg for sev, msg in notifications(app) if sev == "error"]
        assert len(errors) == 1 and "401" in errors[0] and "\n" not in errors[0]
        assert SECRET not in errors[0]
        assert last_answer(app).status == "error"
        fake_server.clear_faults()
        fake_server.reply("Hi.")
        await submit(pilot, "Hello again?")
        await wait_settled(pilot)
        assert last_answer(app).text == "Hi."


async def test_endpoint_down_is_a_notification(settings, fake_server):
    fake_server.stop()
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "Anyone?")
        await wait_settled(pilot, timeout=30)
        assert [sev for sev, _ in notifications(app)] == ["error"]
        assert app.is_running


async def test_history_survives_a_restart_and_can_be_resumed(use_mode, settings, fake_server, monkeypatch):
    use_mode("rag", showcase_mode)
    fake_server.reply("Harrison built H4.", last_user_contains="H4")
    first = LodestarApp(settings, mode="rag")
    async with first.run_test(size=SIZE) as pilot:
        await submit(pilot, "Who built H4?")
        await wait_settled(pilot)
    second = LodestarApp(settings, mode="direct")
    async with second.run_test(size=SIZE) as pilot:
        assert not list(second.query(AnswerMessage))  # a fresh start
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(second.screen, HistoryScreen))
        table = second.screen.query_one(DataTable)
        assert table.row_count == 1 and "Who built H4?" in str(table.get_row_at(0)[2])
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(second.screen, HistoryScreen))
        assert [m.render().plain for m in second.query(UserMessage)] == ["Who built H4?"]
        answer = last_answer(second)
        assert answer.text == "Harrison built H4." and len(answer.citations) == 3
        assert second.sub_title == "Who built H4?"
        replayed = second.query_one(RunView)  # the work pane is rebuilt from the stored trace
        assert replayed.finished and replayed.query(".docs-table")
        # continuing adds to the same conversation, and the model sees the earlier turn
        fake_server.reply("In 1759.", last_user_contains="When")
        await submit(pilot, "When?")
        await wait_settled(pilot)
        assert last_answer(second).text == "In 1759."
        context = [m["content"] for m in fake_server.chat_requests[-1].json["messages"][1:]]
        assert context == ["Who built H4?", "Harrison built H4.", "When?"]
        # and Ctrl+N starts a new one, without that context
        await pilot.press("ctrl+n")
        assert not list(second.query(AnswerMessage)) and second.conversation_id is None
        await submit(pilot, "What is a lodestone?")
        await wait_settled(pilot)
        assert [m["role"] for m in fake_server.chat_requests[-1].json["messages"]] == ["system", "user"]
    store = HistoryStore(settings.home / "history.sqlite3")
    conversations = store.conversations()
    assert [c.messages for c in conversations] == [2, 4]


async def test_history_delete(settings, fake_server):
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "One?")
        await wait_settled(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("d")
        assert app.screen.query_one(DataTable).row_count == 0
        await pilot.press("escape")
        await pilot.pause()
        assert app.conversation_id is None and not list(app.query(AnswerMessage))


def terminal_mouse(app: LodestarApp, kind: type, x: int, y: int, button: int = 1) -> None:
    """Send a mouse event the way the terminal driver does (through App.on_event: selection, click synthesis)."""
    app.post_message(kind(None, x, y, 0, 0, button, False, False, False, screen_x=x, screen_y=y))


async def test_click_and_scroll_while_streaming(use_mode, settings, fake_server, monkeypatch):
    """Clicks, drags (text selection) and wheel scrolls on output that is being rewritten must not crash."""
    use_mode("rag", showcase_mode)
    paragraphs = "\n\n".join(f"Paragraph {i}: " + words(25) + f"\n\n- item {i}\n- `code {i}`" for i in range(8))
    fake_server.reply(Reply(content=paragraphs, chunk_delay_s=0.01), last_user_contains="long")
    app = LodestarApp(settings, mode="rag")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "A long answer, please")
        answer = last_answer(app)
        await wait_for(pilot, lambda: answer.live is not None and answer.live.rendered_chars > 200)
        chat, work = app.query_one("#chat").region, app.query_one("#work").region
        rounds = 0
        while answer.status == "streaming":
            rounds += 1
            region = (chat, work)[rounds % 2]
            x, y = region.x + 4 + rounds % 7, region.y + 2 + rounds % 11
            terminal_mouse(app, MouseDown, x, y)
            terminal_mouse(app, MouseMove, x + 12, y + 3)  # a drag: text selection over changing blocks
            terminal_mouse(app, MouseUp, x + 12, y + 3)
            terminal_mouse(app, MouseDown, x, y)  # a click
            terminal_mouse(app, MouseUp, x, y)
            for kind in (MouseScrollUp, MouseScrollUp, MouseScrollDown):
                terminal_mouse(app, kind, x, y, button=0)
            await asyncio.sleep(0.1)
        assert rounds > 5, "the answer finished before the user could interact"
        await pilot.press("pageup", "pagedown")
        await pilot.click("#chat", offset=(3, 3))
        await wait_settled(pilot, timeout=30)
        assert answer.status == "ok"
        assert answer.body.source.strip() == paragraphs.strip()
        assert app.is_running and app._exception is None


async def test_copy_answer(settings, fake_server):
    fake_server.reply("Copy me.")
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+y")
        assert any("no answer" in msg for _, msg in notifications(app))
        await submit(pilot, "Copy?")
        await wait_settled(pilot)
        await pilot.press("ctrl+y")
        assert app.clipboard == "Copy me."


async def test_settings_switch_a_roles_model_for_the_session(settings, fake_server):
    fake_server.reply("Small model here.")
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen))
        screen_text = str(app.screen.query_one("#endpoints-info").render())
        assert "main" in screen_text and "key: set in config" in screen_text and SECRET not in screen_text
        app.screen.query_one("#model-summarizer", Input).value = "tiny-model"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsScreen))
        assert settings.role("summarizer").model == "tiny-model"
        assert settings.role("judge").model == "fake-model"
        assert "summarizer: tiny-model" in str(app.query_one("#status").render())
        await submit(pilot, "Which model?")
        await wait_settled(pilot)
    assert fake_server.chat_requests[-1].json["model"] == "tiny-model"


async def test_secrets_are_neither_shown_nor_stored(settings, fake_server, home: Path):
    fake_server.reply(f"Your key is {SECRET}, stored nowhere.")
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, f"My key is {SECRET}; repeat it")
        await wait_settled(pilot)
        assert SECRET not in app.query_one(UserMessage).render().plain
        assert SECRET not in last_answer(app).body.source
        shown = app.export_screenshot()
        assert SECRET not in shown
    raw = (home / "history.sqlite3").read_bytes()
    with sqlite3.connect(home / "history.sqlite3") as db:
        rows = db.execute("SELECT content FROM messages").fetchall()
    assert SECRET.encode() not in raw and all(SECRET not in row[0] for row in rows)
    assert "***" in rows[0][0]


async def test_help_lists_every_binding(settings, fake_server):
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = dict((what, key) for key, what in app.screen.rows)
        for binding in app.BINDINGS:
            assert binding.description in rows
        assert rows["Command palette"] == "Ctrl+P" and rows["Quit"] == "Ctrl+Q" and rows["Cancel answer"] == "Esc"
        shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        assert "Cancel answer" in shown and "Ctrl+N" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_loads_the_demo_graph_with_progress(settings, fake_server):
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Load knowledge")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.query("#file"))
        assert app.screen.query_one("#file", Input).value.endswith("navigation.tsv")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.job_worker is not None and not app.job_worker.is_running, timeout=60)
        await pilot.pause()
        done = [msg for sev, msg in notifications(app) if "entities" in msg]
        assert done and "250 triples" in done[0]
        assert (settings.home / "graph").is_dir()
        assert not app.query_one("#jobs").has_class("-active")


async def test_palette_ingest_reports_a_bad_path(settings, fake_server, tmp_path: Path):
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        app.action_ingest()
        await wait_for(pilot, lambda: app.screen.query("#paths"))
        app.screen.query_one("#paths", Input).value = str(tmp_path / "missing-folder")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.job_worker is not None and not app.job_worker.is_running, timeout=60)
        await pilot.pause()
        errors = [msg for sev, msg in notifications(app) if sev == "error"]
        assert errors and "nothing could be ingested" in errors[0]


async def test_palette_ingest_adds_documents(settings, fake_server, tmp_path: Path):
    doc = tmp_path / "docs" / "lodestone.md"
    doc.parent.mkdir()
    doc.write_text("# Lodestone\n\nA lodestone is a naturally magnetized piece of magnetite.\n", encoding="utf-8")
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        app.action_ingest()
        await wait_for(pilot, lambda: app.screen.query("#paths"))
        app.screen.query_one("#paths", Input).value = str(doc.parent)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.job_worker is not None and not app.job_worker.is_running, timeout=180)
        await pilot.pause()
        done = [msg for sev, msg in notifications(app) if "1 file(s) ingested" in msg]
        assert done, notifications(app)


async def test_quitting_mid_answer_keeps_it_in_the_history(settings, fake_server, home: Path):
    fake_server.reply(Reply(content=words(300), chunk_delay_s=0.05))
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await submit(pilot, "Tell me a long story")
        answer = last_answer(app)
        await wait_for(pilot, lambda: answer.live is not None and answer.live.rendered_chars > 0)
        await pilot.press("ctrl+q")
    assert app.hub is None
    # The server notices the closed stream on its next write (every 50 ms here), so allow it a moment.
    deadline = time.monotonic() + 5
    while fake_server.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert fake_server.in_flight == 0, "the server still streams to the app after it quit"
    store = HistoryStore(home / "history.sqlite3")
    messages = store.messages(store.conversations()[0].id)
    assert [(m.role, m.status) for m in messages] == [("user", "ok"), ("assistant", "cancelled")]
    assert messages[1].content.startswith("word0")


async def test_work_pane_keeps_the_last_runs_only(settings, fake_server):
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        work = app.query_one(WorkPane)
        for i in range(WorkPane.MAX_RUNS + 3):
            _, mounted = work.begin_run(f"question {i}", "direct")
            await mounted
        await pilot.pause()
        runs = list(work.query(RunView))
        assert len(runs) == WorkPane.MAX_RUNS and runs[-1].question == f"question {WorkPane.MAX_RUNS + 2}"


async def test_hub_is_closed_on_exit(settings, fake_server):
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.hub_state == "ready")
        assert app.hub is not None
    assert app.hub is None and app._shut_down


@pytest.mark.e2e
async def test_embedded_server_starts_and_stops_with_the_app(home: Path):
    """No endpoint configured: the app starts llama.cpp itself, and no server process outlives it."""
    import os

    from agent.core.config import load_settings

    settings = load_settings()
    assert settings.uses_local
    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.hub_state in ("ready", "error"), timeout=180)
        assert app.hub_state == "ready", app.hub_error
        assert app.hub is not None and app.hub._local is not None
        pid = app.hub._local.pid
        assert pid is not None
        assert any("embedded model server" in msg for _, msg in notifications(app))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
