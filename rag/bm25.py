"""Okapi BM25 over a collection's chunk texts, for hybrid retrieval (fused with vector search by RRF).

Our own small implementation (numpy postings, no extra dependency): collections here are thousands to a few
hundred thousand chunks, built once per process and cached per collection until an ingest changes it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def tokenize(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    """An inverted index with precomputed per-posting BM25 weights; a query is a few numpy scatter-adds."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.ids = list(ids)
        n = len(self.ids)
        lengths = np.zeros(n, dtype=np.float32)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(i)
                tfs.append(tf)
        avgdl = float(lengths.mean()) if n else 0.0
        norm = k1 * (1 - b + b * lengths / avgdl) if avgdl else np.full(n, k1, dtype=np.float32)
        self._index: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (docs, tfs) in postings.items():
            d = np.asarray(docs, dtype=np.int64)
            freq = np.asarray(tfs, dtype=np.float32)
            idf = math.log(1 + (n - len(d) + 0.5) / (len(d) + 0.5))
            self._index[term] = (d, (idf * freq * (k1 + 1) / (freq + norm[d])).astype(np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        total = np.zeros(len(self.ids), dtype=np.float32)
        for term in set(tokenize(query)):
            hit = self._index.get(term)
            if hit is not None:
                total[hit[0]] += hit[1]
        return total

    def top(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` best (id, score) pairs with a positive score, best first."""
        if not self.ids or k <= 0:
            return []
        scores = self.scores(query)
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in best if scores[i] > 0]


def rrf(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = Σ 1 / (k + rank), ranks from 1; ties keep first-seen order."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])
