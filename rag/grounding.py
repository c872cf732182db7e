"""Grounded answers: the sentence of a chunk that best matches the question, and quoted evidence for small models.

A citation shows the sentence of its chunk closest to the question (cosine of the retrieval embeddings), not the
chunk's first line, which is usually a heading. On the embedded 135M model, Agent-3 sometimes answers with
boilerplate about the documents ("The document with the citations is [1]. The answer is: [2]"): such sentences
are dropped, and when what is left shares no content word with the kept evidence, the reader gets the best
evidence sentence instead, quoted with its citation and marked as quoted evidence, rather than the model's memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rag.bm25 import tokenize
from rag.embed import get_embedder

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_CITES = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_MARKUP = re.compile(r"^[#>*\-\s|]+")
_LEAD_IN = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+|short\s+)?answer(?:\s+is)?\s*:|the\s+answer\s+is)\s*(?:\[\d+\]\s*)*", re.I
)
# Words about the task rather than the world: a sentence made only of these (and citations) says nothing.
META_WORDS = frozenset(
    [
        "answer",
        "answers",
        "question",
        "questions",
        "document",
        "documents",
        "doc",
        "docs",
        "citation",
        "citations",
        "cite",
        "cited",
        "text",
        "passage",
        "passages",
        "information",
        "provided",
        "context",
        "given",
        "based",
        "according",
        "following",
        "above",
        "below",
        "source",
        "sources",
        "number",
        "numbered",
        "brackets",
        "square",
        "relevant",
        "contain",
        "contains",
        "containing",
        "reference",
        "references",
        "mentioned",
        "says",
        "state",
        "states",
        "stated",
    ]
)
QUOTED_LABEL = "Quoted evidence"


def sentences(text: str, min_words: int = 6) -> list[str]:
    """The text's sentences (lines and sentence ends), markup stripped; fragments under ``min_words`` left out."""
    found = []
    for piece in _SENTENCE_END.split(text):
        piece = _MARKUP.sub("", piece).strip()
        if len(piece.split()) >= min_words:
            found.append(" ".join(piece.split()))
    return found or ([" ".join(text.split())] if text.strip() else [])


def best_sentences(question: str, texts: Sequence[str], model: str) -> list[tuple[str, float]]:
    """For each text, its sentence closest to ``question`` by embedding cosine, with that similarity."""
    per_text = [sentences(t) for t in texts]
    flat = [s for group in per_text for s in group]
    if not flat:
        return [("", 0.0) for _ in texts]
    vectors = get_embedder(model).encode([question, *flat])
    sims = np.asarray(vectors[1:] @ vectors[0], dtype=np.float32)
    out: list[tuple[str, float]] = []
    start = 0
    for group in per_text:
        if not group:
            out.append(("", 0.0))
            continue
        scores = sims[start : start + len(group)]
        best = int(scores.argmax())
        out.append((group[best], float(scores[best])))
        start += len(group)
    return out


def content_words(text: str) -> set[str]:
    return {w for w in tokenize(_CITES.sub(" ", text)) if w not in META_WORDS and len(w) > 1}


def drop_boilerplate(answer: str) -> str:
    """The answer without sentences that only talk about the documents or the answer ("The answer is: [2]")."""
    kept = [_LEAD_IN.sub("", s) for s in _SENTENCE_END.split(answer.strip()) if content_words(s)]
    return " ".join(kept).strip()


def uses_evidence(answer: str, evidence: Sequence[str]) -> bool:
    """Whether any content word of ``answer`` occurs in the evidence texts."""
    words = content_words(answer)
    return bool(words) and bool(words & set(tokenize(" ".join(evidence))))


def quoted(sentence: str, number: int) -> str:
    return f'{QUOTED_LABEL} [{number}]: "{sentence}"'
