"""The chat pane: the question, then the answer as Markdown that grows token by token, its citations and a footer.

Citations are an OptionList under the answer: Enter or a click opens the cited chunk, triple or tool result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agent.core.terminal import display_text
from ui.stream import LiveMarkdown

if TYPE_CHECKING:
    from textual.widgets import Markdown

    from agent.core.trace import Citation

KIND_LABEL = {"chunk": "doc", "triple": "graph", "tool": "tool"}


def citation_label(index: int, citation: Citation, width: int = 90) -> Text:
    kind = KIND_LABEL.get(citation.kind, citation.kind)
    source = display_text(citation.source or citation.id)
    snippet = " ".join(display_text(citation.quote or citation.text).split())
    head = f"[{index}] {kind}" + (f" · {source}" if source and source != kind else "")
    room = max(10, width - len(head) - 3)
    if len(snippet) > room:
        snippet = snippet[: room - 1] + "…"
    return Text.assemble((head, "bold"), (" — " + snippet if snippet else "", "dim"))


class ChatLog(VerticalScroll):
    """The scrolling list of messages; anchored to the bottom while an answer streams."""

    can_focus = True


class UserMessage(Static):
    def __init__(self, text: str) -> None:
        super().__init__(display_text(text), markup=False, classes="user-message")


class CitationList(OptionList):
    """Under an answer; selecting an entry opens it."""


class AnswerMessage(Vertical):
    """One answer: Markdown body (streamed), citations, and a one-line footer (mode, tokens, time)."""

    class CitationOpened(Message):
        def __init__(self, answer: AnswerMessage, citation: Citation, index: int) -> None:
            super().__init__()
            self.answer = answer
            self.citation = citation
            self.index = index

    def __init__(
        self,
        text: str = "",
        *,
        mode: str = "",
        citations: list[Citation] | None = None,
        footer: str = "",
        status: str = "pending",
    ) -> None:
        from textual.widgets import Markdown  # markdown-it and its plugins: loaded after the first paint

        super().__init__(classes="answer-message")
        self._markdown = Markdown(display_text(text), classes="answer-body")
        self.mode = mode
        self.citations: list[Citation] = list(citations or [])
        self._footer = footer
        self.status = status  # pending | streaming | ok | error | cancelled
        self.live: LiveMarkdown | None = None
        self.set_class(status == "error", "-error")
        self.set_class(status == "cancelled", "-cancelled")

    def compose(self) -> ComposeResult:
        yield self._markdown
        yield CitationList(classes="citations")
        yield Static(self._footer, markup=False, classes="answer-footer")

    def on_mount(self) -> None:
        self._show_citations()

    @property
    def body(self) -> Markdown:
        return self._markdown

    @property
    def text(self) -> str:
        """The answer as shown (secrets redacted): what Copy copies and the history keeps."""
        if self.live is not None and self.live.text and self.status in ("streaming", "cancelled", "error"):
            return display_text(self.live.text)
        return self.body.source

    def start_stream(
        self, on_render: Callable[[], None] | None = None, ready: Awaitable[object] | None = None
    ) -> LiveMarkdown:
        """Begin streaming into the body; ``ready`` (this message's mount) is awaited before the first append."""
        self.status = "streaming"
        self.live = LiveMarkdown(self._markdown, on_render=on_render, ready=ready).start()
        return self.live

    async def finish(
        self,
        *,
        status: str,
        text: str | None = None,
        citations: list[Citation] | None = None,
        footer: str = "",
        error: str | None = None,
    ) -> None:
        """Settle the message: flush the stream, fix the text if the mode's final answer differs, add citations."""
        if self.live is not None:
            await self.live.finish()
        streamed = self.live.text if self.live is not None else ""
        if text is not None and text.strip() and text.strip() != streamed.strip():
            await self.body.update(display_text(text))  # the mode's final answer differs from what it streamed
        self.status = status
        self.set_class(status == "error", "-error")
        self.set_class(status == "cancelled", "-cancelled")
        if citations is not None:
            self.citations = list(citations)
            self._show_citations()
        note = {"error": f"⚠ {error or 'failed'}", "cancelled": "⏹ cancelled"}.get(status)
        self.query_one(".answer-footer", Static).update(" · ".join(p for p in (note, footer) if p))

    def _show_citations(self) -> None:
        options = self.query_one(CitationList)
        options.clear_options()
        options.add_options(Option(citation_label(i, c), id=str(i)) for i, c in enumerate(self.citations, 1))
        options.display = bool(self.citations)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = event.option_index
        if 0 <= index < len(self.citations):
            self.post_message(self.CitationOpened(self, self.citations[index], index + 1))
