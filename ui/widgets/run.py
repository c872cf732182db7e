"""One run in the work pane: the agent's trace, live, one entry per event.

LLM calls (role, model, tokens, latency), planner thoughts and decisions, repairs of unusable model output,
tool calls with their arguments and results, the MAIN-RAG table (documents, scores, the bar, kept or dropped)
and the Think-on-Graph beam per depth.
Streamed answer pieces are not shown here: the chat pane renders those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, DataTable, Static, Tree

from agent.core.terminal import safe_value
from agent.core.trace import (
    Answer,
    DocsScored,
    KgStep,
    LlmCall,
    Plan,
    Repair,
    Rewrite,
    RouteEvent,
    RunEnd,
    RunStart,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
)
from ui.format import Display, one_line, short_json


def path_text(path: list[list[str]]) -> str:
    """[[h, r, t], [t, r2, t2]] -> "h —r→ t —r2→ t2" (a gap in the chain is shown as "… h2")."""
    if not path:
        return ""
    parts: list[str] = []
    last: str | None = None
    for triple in path:
        head, relation, tail = (list(triple) + ["", "", ""])[:3]
        if last is None:
            parts.append(head)
        elif last != head:
            parts.append(f"… {head}")
        parts.append(f"—{relation}→ {tail}")
        last = tail
    return one_line(" ".join(parts), 200)


class Pane(Protocol):
    """The work pane as a run view sees it: whether to keep the view at the end as entries are added."""

    @property
    def following(self) -> bool: ...

    def call_after_refresh(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool: ...

    def scroll_end(self, *, animate: bool = ...) -> None: ...


class RunView(Vertical):
    """Everything one run did, appended as its events arrive."""

    def __init__(self, question: str, mode: str, display: Display, pane: Pane | None = None) -> None:
        super().__init__(classes="run")
        self.pane = pane
        self.question = question
        self.mode = mode
        self.fmt = display
        self.usage = Usage()
        self.events = 0
        self.finished = False
        self._open_tools: list[tuple[str, str | None, Collapsible, Static, Text]] = []
        self._backlog: list[object] = []  # events that arrived before this view was mounted
        self._is_live = False
        self._last_call_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text.assemble(("▶ ", "bold"), (self.mode, "bold"), " · ", one_line(self.question, 200)),
            classes="run-header",
        )
        yield Static(self._stats_text(), classes="run-stats")

    def _stats_text(self, wall_s: float | None = None, status: str = "running") -> Text:
        text = Text.assemble((status, "bold"), " · ", self.fmt.usage(self.usage))
        if wall_s is not None:
            text.append(f" · {self.fmt.seconds(wall_s)}")
        return text

    def _add(self, widget: Static | Collapsible | DataTable | Tree) -> None:
        pane = self.pane
        following = pane is not None and pane.following
        self.mount(widget)
        if following and pane is not None:
            pane.call_after_refresh(pane.scroll_end, animate=False)

    def on_mount(self) -> None:
        self._is_live = True
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            self.handle(event)

    def handle(self, event: object) -> None:
        """A trace sink: called synchronously for every event of the run."""
        kind = getattr(event, "type", "")
        if kind == "answer_delta":
            return
        if not self._is_live:
            self._backlog.append(event)
            return
        self.events += 1
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return
        try:
            if isinstance(event, BaseModel):  # model, document and tool text must not drive the terminal
                event = type(event).model_validate(safe_value(event.model_dump()))
            handler(event)
        except Exception as exc:
            self._add(Static(Text(f"(cannot show {kind}: {type(exc).__name__}: {exc})", "red")))

    # -- one method per event type ---------------------------------------------------------------------------

    def _on_run_start(self, event: RunStart) -> None:
        pass  # the header already says it

    def _on_llm_call(self, event: LlmCall) -> None:
        self.usage.llm_calls += 1
        self.usage.prompt_tokens += event.prompt_tokens
        self.usage.completion_tokens += event.completion_tokens
        self.usage.retries += event.retries
        self.usage.cache_hits += int(event.cached)
        line = Text.assemble(
            (event.role, "bold cyan"),
            " ",
            (event.model, ""),
            f" · {event.prompt_tokens}→{event.completion_tokens} tok · {self.fmt.seconds(event.latency_s)}",
        )
        if event.stream:
            line.append(" ⇣", "dim")
        if event.retries:
            line.append(f"  {event.retries} retries", "yellow")
        if event.cached:
            line.append("  cached", "green")
        if not event.ok:
            self._last_call_error = event.error
            line.append(f"  ✗ {self.fmt.text(event.error or 'failed', 160)}", "red")
        self._add(Static(line, classes="llm-call"))
        self.query_one(".run-stats", Static).update(self._stats_text())

    def _on_rewrite(self, event: Rewrite) -> None:
        text = Text.assemble(("follow-up ", "bold magenta"), ("read as: ", "dim"), one_line(event.standalone, 600))
        self._add(Static(text, classes="plan"))

    def _on_route(self, event: RouteEvent) -> None:
        target = f"{event.route} ({event.tool})" if event.tool else event.route
        text = Text.assemble(
            ("route ", "bold magenta"),
            (target, "bold"),
            ("  decided by the router" if event.alone else "  a hint to the planner", "dim"),
            "\n  ",
            one_line(event.reason, 600),
        )
        self._add(Static(text, classes="plan"))

    def _on_plan(self, event: Plan) -> None:
        text = Text.assemble(
            ("planner ", "bold magenta"),
            one_line(event.thought, 600),
            "\n",
            ("  → next: ", "dim"),
            (event.next, "bold"),
        )
        self._add(Static(text, classes="plan"))

    def _on_repair(self, event: Repair) -> None:
        """Why the same role was asked again (or answered by a default): the model's output was unusable."""
        attempt = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        text = Text.assemble(
            ("↻ ", "bold yellow"),
            (event.role, "bold yellow"),
            " ",
            (one_line(event.problem, 300), "yellow"),
            "\n",
            ("  → ", "dim"),
            (event.action + attempt, "bold"),
        )
        self._add(Static(text, classes="repair"))

    def _on_tool_call(self, event: ToolCallEvent) -> None:
        step = f"{event.step}: " if event.step else ""
        title = f"tool {step}{event.name} …"
        arguments = Text(short_json(event.arguments, 1000), "dim")
        body = Static(arguments, classes="tool-body")
        box = Collapsible(body, title=title, collapsed=False, classes="tool")
        self._open_tools.append((event.name, event.step, box, body, arguments))
        self._add(box)

    def _on_tool_result(self, event: ToolResultEvent) -> None:
        match = next(
            (i for i, (name, step, *_) in enumerate(self._open_tools) if name == event.name and step == event.step),
            None,
        )
        if event.ok:
            result = Text.assemble(("✓ ", "bold green"), short_json(event.output, 600))
        else:
            result = Text.assemble(("✗ ", "bold red"), (one_line(event.error or "failed", 400), "red"))
        result.append(f"  {self.fmt.seconds(event.latency_s)}", "dim")
        if match is None:
            self._add(Static(Text.assemble((f"tool {event.name} ", "bold"), result), classes="tool-result"))
            return
        _, _, box, body, arguments = self._open_tools.pop(match)
        box.title = box.title.removesuffix(" …") + (" ✓" if event.ok else " ✗")
        box.set_class(not event.ok, "-failed")
        body.update(Text.assemble(arguments, "\n", result))

    def _on_docs_scored(self, event: DocsScored) -> None:
        kept = set(event.kept)
        summary = Text.assemble(
            ("MAIN-RAG ", "bold yellow"),
            f"scoring {event.scoring} · bar τ = {event.threshold:.3f} ",
            (f"(mean − {event.n:g}·σ)", "dim"),
            f" · kept {len(kept)}/{len(event.docs)}",
        )
        self._add(Static(summary, classes="docs-summary"))
        table: DataTable[Text] = DataTable(classes="docs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "document", "score", "")
        for rank, doc in enumerate(sorted(event.docs, key=lambda d: -d.score), 1):
            name = one_line(doc.title or doc.source or doc.id, 60)
            is_kept = doc.id in kept
            style = "green" if is_kept else "dim"
            table.add_row(
                Text(str(rank), style),
                Text(name, style),
                Text(f"{doc.score:+.3f}", style),
                Text("kept" if is_kept else "dropped", style),
            )
        self._add(table)

    def _on_kg_step(self, event: KgStep) -> None:
        frontier = ", ".join(event.frontier[:6]) + (" …" if len(event.frontier) > 6 else "")
        label = Text.assemble(
            ("ToG ", "bold blue"),
            f"depth {event.depth} · {event.candidates} candidates · ",
            ("sufficient" if event.sufficient else "not sufficient yet", "green" if event.sufficient else "dim"),
        )
        tree: Tree[None] = Tree(label, classes="kg-tree")
        tree.root.expand()
        tree.root.add_leaf(Text(f"frontier: {one_line(frontier, 160)}"))
        if event.relations:
            relations = tree.root.add(Text(f"relations ({len(event.relations)})"), expand=True)
            for rel in sorted(event.relations, key=lambda r: -r.score)[:20]:
                relations.add_leaf(Text(one_line(f"{rel.entity} —{rel.relation}  {rel.score:.2f}", 140)))
        beam = tree.root.add(Text(f"beam ({len(event.kept)} paths)"), expand=True)
        for path in event.kept:
            beam.add_leaf(Text(path_text(path)))
        self._add(tree)

    def _on_answer(self, event: Answer) -> None:
        cites = len(event.citations)
        self._add(
            Static(
                Text.assemble(
                    ("answer ", "bold green"),
                    f"{len(event.text)} characters · {cites} citation{'s' if cites != 1 else ''}",
                ),
                classes="answer-event",
            )
        )

    def _on_run_end(self, event: RunEnd) -> None:
        self.finished = True
        self.usage = event.usage.model_copy()
        cancelled = any(word in (event.error or "") for word in ("CancelledError", "cancelled"))
        status = "done" if event.ok else ("cancelled" if cancelled else "failed")
        self.query_one(".run-stats", Static).update(self._stats_text(event.wall_s, status))
        self.set_class(not event.ok, "-failed")
        if not event.ok and status == "failed" and event.error != self._last_call_error:
            self._add(Static(Text(f"✗ {self.fmt.text(event.error or 'failed')}", "red"), classes="run-error"))
