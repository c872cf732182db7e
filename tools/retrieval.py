"""Tool retrieval for large toolsets, after CRAFT's multi-view matching (ALGORITHMS.md §5).

When a run has more than ``loop.max_tools_offered`` tools, the planner and the caller are shown only the tools
retrieved for the question (and, for the caller, the planner's thought), so a prompt stays short and a small model
is not lost among a hundred schemas. Each tool is embedded in up to three views with the sentence-transformers
model the documents already use (rag/embed.py; no second model is loaded):

- **name**: the tool's name as words (``census__lookup`` → "census lookup", ``AddAgenda`` → "add agenda");
- **description**: its description;
- **examples**: questions it answers, where the tool has them (the best-matching example speaks for the tool).

Each view votes for its top hits (CRAFT's depths: 10 by description, 5 by name, 10 by example question). CRAFT
counts the votes; we weight each view's vote by its cosine similarity, so a tool ranks by its strongest match
(counted votes remain as the tie-break, and as ``fusion="votes"``). The top k are offered.

Departures from CRAFT, and why: CRAFT first asks an LLM to plan (expected tool names plus an abstract docstring);
here the planner's own thought plays that part for the caller, so retrieval costs no extra LLM call. CRAFT keeps at
most 3 tools with at least 2 votes, to add hints to a code-writing prompt; a caller must be offered enough tools to
act, so we keep the top k and never fewer. Counting votes let a generic tool with three weak hits outrank one
whose example question matches the request almost word for word: on API-Bank level-1 (bench/tools_retrieval.py)
counted votes reached recall@1 0.41 and @10 0.85 where similarity-weighted votes reached 0.65 and 0.97 (description
only: 0.41 and 0.79). SimCSE is replaced by the documents' MiniLM model.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tools.registry import Tool, ToolRegistry

if TYPE_CHECKING:
    import numpy as np

    from rag.embed import Embedder

DEPTHS = {"description": 10, "name": 5, "examples": 10}  # CRAFT's per-view top-k (retrieve_tools.py)
RRF_K = 60
_vectors: dict[tuple[str, str], np.ndarray] = {}  # (model, text) -> unit vector: tool texts are embedded once
_vectors_lock = threading.Lock()


def name_words(name: str) -> str:
    """A tool name as words: split at ``_``, ``-``, ``.``, ``__`` and camelCase."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return " ".join(re.split(r"[\s_\-./]+", spaced)).strip().lower()


def _embed(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    import numpy as np

    missing = [t for t in dict.fromkeys(texts) if (embedder.name, t) not in _vectors]
    if missing:
        vectors = embedder.encode(list(missing))
        with _vectors_lock:
            for text, vector in zip(missing, vectors, strict=True):
                _vectors[(embedder.name, text)] = vector
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.stack([_vectors[(embedder.name, t)] for t in texts])


@dataclass
class Ranking:
    """Tool names best first, with the votes each got and how long retrieval took."""

    names: list[str]
    votes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class ToolRetriever:
    """Multi-view retrieval over a fixed set of tools (build once per registry; ``rank`` is cheap)."""

    def __init__(
        self,
        tools: Iterable[Tool],
        embedder: Embedder,
        *,
        views: Sequence[str] = tuple(DEPTHS),
        fusion: Literal["max", "votes"] = "max",
    ) -> None:
        import numpy as np

        self.fusion = fusion
        self.tools = list(tools)
        self.embedder = embedder
        self.views = tuple(views)
        self.names = [t.name for t in self.tools]
        self._name = _embed(embedder, [name_words(t.name) for t in self.tools])
        self._description = _embed(embedder, [t.full_description() or name_words(t.name) for t in self.tools])
        owners: list[int] = []
        texts: list[str] = []
        self.example_sources: list[str] = []
        for index, item in enumerate(self.tools):
            for example in item.examples:
                source, _, text = example.rpartition("\x1f")  # "source\x1ftext" tags an example (benchmarks)
                owners.append(index)
                texts.append(text)
                self.example_sources.append(source)
        self._example_owner = np.asarray(owners, dtype=np.int64)
        self._examples = _embed(embedder, texts)

    @classmethod
    def for_registry(cls, registry: ToolRegistry, model: str) -> ToolRetriever:
        from rag.embed import get_embedder

        return cls(list(registry), get_embedder(model))

    def _view_scores(self, view: str, query: np.ndarray, skip_sources: frozenset[str]) -> np.ndarray | None:
        import numpy as np

        if view == "name":
            return self._name @ query
        if view == "description":
            return self._description @ query
        if not len(self._examples):
            return None
        sims = self._examples @ query
        if skip_sources:
            keep = np.asarray([s not in skip_sources for s in self.example_sources], dtype=bool)
            sims = np.where(keep, sims, -np.inf)
        best = np.full(len(self.tools), -np.inf, dtype=np.float32)
        np.maximum.at(best, self._example_owner, sims.astype(np.float32))
        return best if np.isfinite(best).any() else None

    def rank(self, question: str, plan: str = "", *, skip_sources: Iterable[str] = ()) -> Ranking:
        """Every tool, best first. Names and descriptions are matched against the question plus the plan (the
        planner's thought: CRAFT's "expected tools" and docstring); examples against the question alone."""
        import numpy as np

        started = time.perf_counter()
        texts = [question.strip()] + ([f"{question.strip()} {plan.strip()}"] if plan.strip() else [])
        encoded = self.embedder.encode(texts)
        asked, planned = encoded[0], encoded[-1]
        skip = frozenset(skip_sources)
        votes = np.zeros(len(self.tools), dtype=np.int64)
        fused = np.zeros(len(self.tools), dtype=np.float64)
        strongest = np.full(len(self.tools), -np.inf, dtype=np.float64)
        for view in self.views:
            scores = self._view_scores(view, asked if view == "examples" else planned, skip)
            if scores is None:
                continue
            order = np.argsort(-scores, kind="stable")
            valid = order[np.isfinite(scores[order])]
            votes[valid[: DEPTHS[view]]] += 1
            fused[valid] += 1.0 / (RRF_K + np.arange(1, len(valid) + 1))
            strongest = np.maximum(strongest, scores)
        if self.fusion == "votes":  # CRAFT's counted votes, ties broken by reciprocal-rank fusion
            key = lambda i: (-votes[i], -fused[i], i)  # noqa: E731 (two keys, one line each)
        else:  # each view's vote weighted by its similarity: the strongest match speaks for the tool
            key = lambda i: (-strongest[i], -votes[i], i)  # noqa: E731
        best = sorted(range(len(self.tools)), key=key)
        return Ranking(
            names=[self.names[i] for i in best],
            votes={self.names[i]: int(votes[i]) for i in best},
            seconds=time.perf_counter() - started,
        )

    def top(self, question: str, k: int, plan: str = "") -> list[Tool]:
        by_name = {t.name: t for t in self.tools}
        return [by_name[n] for n in self.rank(question, plan).names[:k]]
