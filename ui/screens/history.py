"""Past conversations: resume one, delete one, or start anew."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ui.format import Display
from ui.history import HistoryStore

NEW = -1  # dismiss value: start a new conversation


class HistoryScreen(ModalScreen[int | None]):
    """Dismisses with a conversation id to resume, NEW for a fresh one, or None to go back."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Back"),
        Binding("enter", "resume", "Resume", priority=True),
        Binding("d,delete", "delete", "Delete"),
        Binding("n", "new", "New conversation"),
    ]

    def __init__(self, store: HistoryStore, display: Display, current: int | None = None) -> None:
        super().__init__(classes="modal")
        self.store = store
        self.fmt = display
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog history-dialog"):
            yield Static("Conversations", classes="dialog-title")
            yield DataTable(id="conversations", cursor_type="row", zebra_stripes=True)
            yield Static("Enter resume · d delete · n new · Esc back", classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("updated", "messages", "title")
        self.refresh_rows()
        table.focus()

    def refresh_rows(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for conv in self.store.conversations():
            marker = "● " if conv.id == self.current else ""
            table.add_row(self.fmt.when(conv.updated), str(conv.messages), Text(marker + conv.title), key=str(conv.id))
        if not table.row_count:
            self.query_one(".dialog-hint", Static).update("No conversations yet · n new · Esc back")

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(key.value) if key.value is not None else None

    def action_resume(self) -> None:
        selected = self._selected()
        if selected is not None:
            self.dismiss(selected)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.dismiss(int(event.row_key.value))

    def action_delete(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        self.store.delete(selected)
        if selected == self.current:
            self.current = None
        self.refresh_rows()
        self.app.notify("conversation deleted", timeout=2)

    def action_new(self) -> None:
        self.dismiss(NEW)
