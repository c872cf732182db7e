"""Prompts for the palette's long jobs: ingest documents, load a graph."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ui.format import steady_cursors
from ui.jobs import GraphRequest, IngestRequest


class _Prompt(ModalScreen[BaseModel | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    TITLE_TEXT = ""
    HINT = ""

    def fields(self) -> ComposeResult:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog job-dialog"):
            yield Static(self.TITLE_TEXT, classes="dialog-title")
            yield from self.fields()
            yield Static(self.HINT, classes="dialog-hint")
            with Horizontal(classes="buttons"):
                yield Button("Start", id="start", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        steady_cursors(self)
        self.query(Input).first().focus()

    def request(self) -> BaseModel | None:
        raise NotImplementedError

    def _submit(self) -> None:
        request = self.request()
        if request is not None:
            self.dismiss(request)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self._submit()
        else:
            self.dismiss(None)


class IngestPrompt(_Prompt):
    TITLE_TEXT = "Ingest documents"
    HINT = "Files or folders (.txt .md .html .pdf .jsonl), separated by spaces. Runs in the background."

    def __init__(self, default_paths: str, collection: str) -> None:
        super().__init__(classes="modal")
        self.default_paths = default_paths
        self.collection = collection

    def fields(self) -> ComposeResult:
        yield Label("paths")
        yield Input(self.default_paths, id="paths", placeholder="examples/corpus")
        yield Label("collection")
        yield Input(self.collection, id="collection")

    def request(self) -> IngestRequest | None:
        paths = self.query_one("#paths", Input).value.split()
        if not paths:
            self.app.notify("name at least one file or folder", severity="error")
            return None
        return IngestRequest(paths=paths, collection=self.query_one("#collection", Input).value.strip() or None)


class GraphPrompt(_Prompt):
    TITLE_TEXT = "Load a knowledge graph"
    HINT = "Triples as .tsv .csv .jsonl or .nt (format by extension); aliases: a TSV of entity<TAB>alias lines."

    def __init__(self, default_file: str, default_aliases: str) -> None:
        super().__init__(classes="modal")
        self.default_file = default_file
        self.default_aliases = default_aliases

    def fields(self) -> ComposeResult:
        yield Label("triples file")
        yield Input(self.default_file, id="file", placeholder="examples/graph/navigation.tsv")
        yield Label("aliases file (optional)")
        yield Input(self.default_aliases, id="aliases")

    def request(self) -> GraphRequest | None:
        file = self.query_one("#file", Input).value.strip()
        if not file:
            self.app.notify("name a triples file", severity="error")
            return None
        aliases = self.query_one("#aliases", Input).value.strip()
        return GraphRequest(file=Path(file), aliases=Path(aliases) if aliases else None)
