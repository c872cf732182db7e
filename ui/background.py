"""The palette's long jobs run for the app: a prompt, then one job at a time in a worker thread (the work is
CPU-bound embedding or blocking file I/O), its progress in the job bar and its outcome as a notification."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from agent.core.config import Settings
from agent.core.errors import LodestarError
from ui.format import one_line

if TYPE_CHECKING:
    from textual.app import App
    from textual.worker import Worker

    from ui.jobs import Progress
    from ui.widgets.bars import JobBar

Job = Callable[[Any, Settings, "Progress"], list[str]]


class JobRunner:
    def __init__(self, app: App[Any], bar: Callable[[], JobBar], settings: Settings) -> None:
        self.app = app
        self._bar = bar
        self.settings = settings
        self.worker: Worker[None] | None = None

    def prompt_ingest(self) -> None:
        from ui.jobs import find_example, ingest
        from ui.screens.jobs import IngestPrompt

        prompt = IngestPrompt(find_example("examples/corpus"), self.settings.rag.collection)
        self.app.push_screen(prompt, partial(self.start, "ingest", ingest))

    def prompt_graph(self) -> None:
        from ui.jobs import find_example, load_graph
        from ui.screens.jobs import GraphPrompt

        prompt = GraphPrompt(find_example("examples/graph/navigation.tsv"), find_example("examples/graph/aliases.tsv"))
        self.app.push_screen(prompt, partial(self.start, "graph load", load_graph))

    def start(self, label: str, function: Job, request: Any) -> None:
        if request is None:  # the prompt was dismissed
            return
        if self.worker is not None and self.worker.is_running:
            self.app.notify("another job is running; wait for it to finish", severity="warning")
            return
        self._bar().begin(label)
        self.worker = self.app.run_worker(
            partial(self._run, label, function, request), name=label, group="jobs", thread=True, exit_on_error=False
        )

    def _run(self, label: str, function: Job, request: Any) -> None:
        bar = self._bar()

        def ui(callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
            with contextlib.suppress(Exception):  # the app may be closing
                self.app.call_from_thread(callback, *args, **kwargs)

        def failed(reason: str) -> None:
            ui(self.app.notify, one_line(reason), title=f"{label} failed", severity="error", timeout=10)

        try:
            lines = function(request, self.settings, lambda event, n: ui(bar.progress, event, n))
        except LodestarError as exc:
            failed(str(exc))
        except Exception as exc:
            failed(f"{type(exc).__name__}: {exc}")
        else:
            summary = "\n".join(one_line(line, 160) for line in lines[:4])
            ui(self.app.notify, summary, title=f"{label} done", timeout=10)
        finally:
            ui(bar.end)
