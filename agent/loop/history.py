"""The loop's shared history (α-UMi's flat role-prefixed transcript) and the citations gathered on the way.

Observations are untrusted: before they enter the transcript they are sanitized — chat-template tokens, our data
delimiters and the markers this loop parses (``Next:``, ``Action:``, role prefixes) are removed until none remain
— and wrapped in a data block. The planner's and caller's parsers never read observations at all; this is the
second line of defence, for models that would copy a marker from the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.core.trace import Citation
from agent.core.untrusted import data_block, sanitize
from tools.registry import ToolResult, truncate

SHORT_OBSERVATION = 200  # characters an old observation keeps when the context window is tight
# the loop's own markers (Next:, Action:, Action Input:, observation:, planner: …) in any case and spacing
_MARKER_VARIANTS = re.compile(
    r"(?:next(?:\s*step)?|action(?:\s*input)?|observation|planner|caller|assistant|conclusion|summarizer)\s*[:：]",
    re.IGNORECASE,
)


def neutralize(text: str) -> str:
    """Sanitize untrusted text and strip the loop's own markers in any spacing or case, to a fixpoint."""
    for _ in range(50):  # removing one marker can join the pieces of another: repeat until nothing changes
        cleaned = _MARKER_VARIANTS.sub("", sanitize(text))
        if cleaned == text:
            break
        text = cleaned
    return text


@dataclass
class Entry:
    """One entry of the loop's shared transcript (not a conversation turn: see agent/run/conversation.Turn)."""

    role: str  # user | planner | caller | observation
    text: str
    cites: list[int] = field(default_factory=list)
    label: str = ""


@dataclass
class LoopState:
    question: str
    turns: list[Entry] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    observations: int = 0

    def add_plan(self, thought: str, next_step: str) -> None:
        text = f"{neutralize(thought)}\nNext: {next_step}." if thought else f"Next: {next_step}."
        self.turns.append(Entry("planner", text))

    def add_call(self, rendered: str) -> None:
        self.turns.append(Entry("caller", rendered))

    def add_observation(self, text: str, results: Sequence[tuple[str, ToolResult]] = ()) -> None:
        """Record what the tools returned; successful results become citable sources."""
        cites = [self._cite(label, result) for label, result in results if result.ok]
        self.observations += 1
        self.turns.append(
            Entry(
                "observation",
                neutralize(text),
                cites=sorted({c for group in cites for c in group}),
                label=f"observation {self.observations}",
            )
        )

    def _cite(self, label: str, result: ToolResult) -> list[int]:
        found = result.citations or [
            Citation(
                id=f"tool:{label}",
                kind="tool",
                source=f"{result.name}({json.dumps(result.arguments, ensure_ascii=False)[:120]})",
                text=truncate(result.text(), 300),
            )
        ]
        numbers = []
        for citation in found:
            key = (citation.kind, citation.id)
            for i, known in enumerate(self.citations, 1):
                if (known.kind, known.id) == key:
                    numbers.append(i)
                    break
            else:
                self.citations.append(citation)
                numbers.append(len(self.citations))
        return numbers

    def render(self, budget_chars: int | None = None) -> str:
        """The transcript every role reads: ``user:``, ``planner:``, ``caller:``, ``observation:`` turns.

        With ``budget_chars`` (from the endpoint's context window), older observations are shortened first, then
        the latest, so that a long run on a small-context model degrades instead of failing with a 400.
        """
        shortened: dict[int, int] = {}
        text = self._render(shortened)
        if budget_chars is None or len(text) <= budget_chars:
            return text
        observations = [i for i, t in enumerate(self.turns) if t.role == "observation"]
        for keep in (SHORT_OBSERVATION, 60):
            for i in observations[:-1] + observations[-1:]:
                shortened[i] = keep
                text = self._render(shortened)
                if len(text) <= budget_chars:
                    return text
        return text

    def _render(self, shortened: dict[int, int]) -> str:
        lines = [f"user: {self.question}"]
        for i, turn in enumerate(self.turns):
            if turn.role == "observation":
                refs = "".join(f"[{n}]" for n in turn.cites)
                head = f"observation{' (sources ' + refs + ')' if refs else ''}:"
                body = turn.text if i not in shortened else truncate(turn.text, shortened[i])
                lines.append(f"{head}\n{data_block(turn.label, body)}")  # neutralized when added
            else:
                lines.append(f"{turn.role}: {turn.text}")
        return "\n".join(lines)

    def sources(self, limit: int = 200) -> str:
        """Numbered sources for the summarizer: ``[n] source: text``, the text as a data block."""
        if not self.citations:
            return ""
        rows = []
        for n, citation in enumerate(self.citations, 1):
            label = neutralize(citation.source or citation.id)[:120]
            rows.append(f"[{n}] {label}: {neutralize(truncate(citation.text, limit))}".replace("\n", " "))
        return data_block("sources", "\n".join(rows))
