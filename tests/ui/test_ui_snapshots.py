"""SVG snapshots of the main screens (pytest-textual-snapshot). Regenerate after a deliberate UI change with
``pytest tests/test_ui_snapshots.py --snapshot-update`` and review the SVGs under tests/__snapshots__/.

Determinism: a fixed terminal size, ``stable=True`` (ports, latencies and dates masked), scripted fake replies,
and every screen taken only after the running answer has settled.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from agent.testing.fake_openai import Reply
from tests.ui_fixtures import showcase_mode, wait_for, wait_settled
from ui.app import LodestarApp
from ui.screens.citation import CitationScreen
from ui.widgets.chat import AnswerMessage, CitationList

SIZE = (120, 40)
ANSWER = (
    "John Harrison's **H4** lost only 5.1 seconds on the voyage to Jamaica [1], and it was made by "
    "Harrison himself [2]."
)


@pytest.fixture
def showcase(use_mode, fake_server) -> None:
    use_mode("rag", showcase_mode)
    fake_server.reply(Reply(content=ANSWER), last_user_contains="H4")


async def ask(pilot: Pilot, question: str) -> None:
    await pilot.app.ask(question)
    await wait_settled(pilot)
    await pilot.pause()


def test_snapshot_welcome(snap_compare, settings) -> None:
    app = LodestarApp(settings, mode="direct", stable=True)

    async def ready(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.hub_state == "ready")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_snapshot_answer_and_work_pane(snap_compare, settings, showcase) -> None:
    app = LodestarApp(settings, mode="rag", stable=True)

    async def run(pilot: Pilot) -> None:
        await ask(pilot, "How accurate was H4?")

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_snapshot_citation(snap_compare, settings, showcase) -> None:
    app = LodestarApp(settings, mode="rag", stable=True)

    async def run(pilot: Pilot) -> None:
        await ask(pilot, "How accurate was H4?")
        citations = app.query(AnswerMessage).last().query_one(CitationList)
        citations.focus()
        citations.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CitationScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_snapshot_error(snap_compare, settings, fake_server) -> None:
    fake_server.fail_every(1, status=401)
    app = LodestarApp(settings, mode="direct", stable=True)

    async def run(pilot: Pilot) -> None:
        await ask(pilot, "Is the endpoint up?")

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_snapshot_help(snap_compare, settings) -> None:
    app = LodestarApp(settings, mode="direct", stable=True)
    assert snap_compare(app, terminal_size=SIZE, press=["f1"])


def test_snapshot_settings(snap_compare, settings) -> None:
    app = LodestarApp(settings, mode="direct", stable=True)

    async def ready(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.hub_state == "ready")
        await pilot.press("ctrl+s")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_snapshot_history(snap_compare, settings, showcase) -> None:
    app = LodestarApp(settings, mode="rag", stable=True)

    async def run(pilot: Pilot) -> None:
        await ask(pilot, "How accurate was H4?")
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+o")

    assert snap_compare(app, terminal_size=SIZE, run_before=run)
