"""Cheap pruning (ToG's ``prune_tools`` = bm25 / sentence embeddings): rank relations or entities against the
question without an LLM call. Scores are normalised to sum to 1 like the LLM's, with a small floor so that a
lexical miss does not zero a branch (ToG drops zero scores, which would end the search on every miss).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from kg import embed
from kg.store import normalize

FLOOR = 1e-3
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "into",
        "about",
        "than",
        "then",
        "there",
        "their",
        "his",
        "her",
        "he",
        "she",
        "they",
        "them",
        "we",
        "you",
        "i",
        "me",
        "my",
        "your",
        "our",
        "did",
        "has",
        "have",
        "had",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "also",
        "any",
        "all",
        "some",
        "same",
        "other",
        "films",
        "film",
        "movies",
        "movie",
        "ones",
        "one",
    ]
)


def _stem(token: str) -> str:
    return token[:5]


def tokens(text: str) -> list[str]:
    """Words of ``text`` (camelCase and snake_case split), stopwords out, crudely stemmed to 5 characters."""
    return [_stem(t) for t in normalize(_CAMEL.sub(" ", text)).split() if t not in STOPWORDS]


def bm25_scores(query: str, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of ``query`` against each document, with idf computed over ``documents`` themselves."""
    docs = [tokens(d) for d in documents]
    if not docs:
        return []
    n = len(docs)
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(t for d in docs for t in set(d))
    terms = set(tokens(query))
    scores = []
    for doc in docs:
        counts = Counter(doc)
        score = 0.0
        for term in terms & counts.keys():
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            tf = counts[term]
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
        scores.append(score)
    return scores


async def embedding_scores(query: str, documents: Sequence[str], model: str) -> list[float]:
    """Cosine similarity of ``query`` with each document (relation names are split into words first)."""
    texts = [" ".join(normalize(_CAMEL.sub(" ", d)).split()) or d for d in documents]
    vectors = await embed.encode(model, [query, *texts])
    return [float(x) for x in vectors[1:] @ vectors[0]]


def normalise(scores: Sequence[float]) -> list[float]:
    """Non-negative scores summing to 1, each at least FLOOR before renormalising; uniform when all are 0."""
    clipped = [max(0.0, s) for s in scores]
    total = sum(clipped)
    if total <= 0:
        return [1.0 / len(clipped)] * len(clipped) if clipped else []
    floored = [max(FLOOR, s / total) for s in clipped]
    total = sum(floored)
    return [s / total for s in floored]


async def rank(method: str, query: str, documents: Sequence[str], model: str) -> list[float]:
    """Normalised scores of ``documents`` for ``query`` by ``method`` ("bm25" or "embedding")."""
    if method == "bm25":
        raw = bm25_scores(query, documents)
    else:
        raw = await embedding_scores(query, documents, model)
    return normalise(raw)
