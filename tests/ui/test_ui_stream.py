"""LiveMarkdown: pieces fed synchronously are appended (coalesced) to a Markdown widget; secrets never shown."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Markdown

from agent.core.secrets import register_secret
from tests.ui_fixtures import wait_for
from ui.stream import LiveMarkdown


class OneMarkdown(App[None]):
    def compose(self) -> ComposeResult:
        yield Markdown()


async def test_pieces_are_appended_in_order_and_coalesced() -> None:
    app = OneMarkdown()
    async with app.run_test() as pilot:
        markdown = app.query_one(Markdown)
        live = LiveMarkdown(markdown).start()
        pieces = ["# Title\n\n", "Some", " **bold**", " text", ".\n\n", "- one\n", "- two"] * 20
        for piece in pieces:
            live.feed(piece)  # synchronous, all before the widget gets a turn
        await live.finish()
        assert markdown.source == "".join(pieces)
        assert 1 <= live.appends < len(pieces)  # coalesced, not one append per piece
        live.feed("ignored after finish")
        await pilot.pause()
        assert markdown.source == "".join(pieces)


async def test_a_secret_split_across_pieces_never_reaches_the_screen() -> None:
    secret = "zz-secret-value-0123456789"
    register_secret(secret)
    app = OneMarkdown()
    async with app.run_test() as pilot:
        markdown = app.query_one(Markdown)
        seen: list[str] = []
        live = LiveMarkdown(markdown, on_render=lambda: seen.append(markdown.source)).start()
        for piece in ["Your key", " is zz-sec", "ret-value-01", "23456789", " — keep it", " safe."]:
            live.feed(piece)
            await pilot.pause()
        await wait_for(pilot, lambda: "keep" in markdown.source)
        await live.finish()
        assert seen and all("zz-sec" not in shown for shown in seen)
        assert markdown.source == "Your key is *** — keep it safe."
        assert live.text.endswith("keep it safe.")  # the raw text is kept for the final comparison
