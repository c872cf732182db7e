"""A cited chunk, triple or tool result, in full."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from agent.core.secrets import redact
from agent.core.trace import Citation


def citation_body(citation: Citation) -> str:
    text = redact(citation.text)
    if citation.kind == "tool":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, TypeError):
            return text
    return text


class CitationScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("y", "copy", "Copy text"),
    ]

    def __init__(self, citation: Citation, index: int) -> None:
        super().__init__(classes="modal")
        self.citation = citation
        self.index = index

    def compose(self) -> ComposeResult:
        c = self.citation
        kind = {"chunk": "document chunk", "triple": "graph triple", "tool": "tool result"}.get(c.kind, c.kind)
        with Vertical(classes="dialog citation-dialog"):
            yield Static(Text(f"[{self.index}] {kind}", "bold"), classes="dialog-title")
            yield Static(
                Text.assemble(("source ", "dim"), redact(c.source or "–"), ("   id ", "dim"), redact(c.id)),
                classes="citation-meta",
            )
            with VerticalScroll(classes="citation-text"):
                yield Static(Text(citation_body(c)), id="citation-body")
            with Horizontal(classes="buttons"):
                yield Button("Copy (y)", id="copy")
                yield Button("Close (Esc)", id="close", variant="primary")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(redact(self.citation.text))
        self.app.notify("citation copied", timeout=2)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss()
