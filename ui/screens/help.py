"""Every key binding, generated from the bindings themselves so the list cannot go stale."""

from __future__ import annotations

import re

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA = [
    ("Enter", "send the question (in the input)"),
    ("Tab / Shift+Tab", "move focus: mode, input, chat, citations, work pane"),
    ("Enter on a citation", "open the cited chunk, triple or tool result"),
    ("Ctrl+P, then type", "ingest documents, load a graph, switch mode, new chat, …"),
    ("History: Enter / d / n", "resume / delete / start a new conversation"),
    ("Citation: y", "copy the cited text"),
    ("Esc (in a dialog)", "close the dialog"),
]


def key_label(key: str) -> str:
    """ "ctrl+n" -> "Ctrl+N", "escape" -> "Esc", "f1" -> "F1"; alternatives joined with " / "."""
    names = {"escape": "Esc", "pageup": "PageUp", "pagedown": "PageDown", "enter": "Enter", "tab": "Tab"}

    def one(k: str) -> str:
        parts = []
        for part in k.split("+"):
            if part in names:
                parts.append(names[part])
            elif part in ("ctrl", "shift", "alt", "super") or re.fullmatch(r"f\d+", part):
                parts.append(part.capitalize() if not part.startswith("f") else part.upper())
            else:
                parts.append(part.upper() if "+" in k and len(part) == 1 else part)
        return "+".join(parts)

    return " / ".join(one(k.strip()) for k in key.split(","))


def binding_rows(bindings: list[Binding]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for binding in bindings:
        if not binding.description or binding.key in seen:
            continue
        seen.add(binding.key)
        rows.append((key_label(binding.key), binding.description))
    return rows + EXTRA


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__(classes="modal")
        self.rows = binding_rows(bindings)

    def compose(self) -> ComposeResult:
        table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("what it does")
        for key, what in self.rows:
            table.add_row(key, what)
        with Vertical(classes="dialog help-dialog"):
            yield Static("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(table, id="keys")
            yield Static("Esc closes", classes="dialog-hint")
