"""Answer scoring against gold answers, and the totals a batch reports.

Definitions (each takes the best gold answer when there are several):

- normalisation (SQuAD): lowercase, drop punctuation (ASCII and Unicode), drop the articles a/an/the, squeeze
  whitespace.
- EM: the normalised answer equals a normalised gold answer.
- F1: SQuAD token F1 between the normalised answer and a normalised gold answer.
- accuracy (MAIN-RAG / Self-RAG "match"): a normalised gold answer occurs inside the normalised answer, on word
  boundaries (so gold "1" does not match "1964"; a plain substring test would).
- Hits@1 (kg mode): the *first answer entity* equals a normalised gold answer. The first entity is the answer text up
  to the first newline, comma, semicolon, " and " or " or "; an entity whose own name contains "and" (e.g. "Simon
  and Garfunkel") is therefore cut, which is the price of a rule that needs no entity list.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ENTITY_SPLIT = re.compile(r"\n|,|;|\s+and\s+|\s+or\s+", re.IGNORECASE)
_ASCII_PUNCT = frozenset(string.punctuation)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


_ASCII_NO_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower, no punctuation, no articles, single spaces."""
    text = text.lower()
    if text.isascii():
        text = text.translate(_ASCII_NO_PUNCT)  # the common case, without a Unicode lookup per character
    else:
        text = "".join(ch for ch in text if not _is_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(golds: Sequence[str]) -> list[str]:
    return [normalize_answer(g) for g in golds]


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == g for g in _golds(golds)))


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    pred = normalize_answer(prediction).split()
    return max((_token_f1(pred, g.split()) for g in _golds(golds)), default=0.0)


def accuracy(prediction: str, golds: Sequence[str]) -> float:
    padded = f" {normalize_answer(prediction)} "
    return float(any(g and f" {g} " in padded for g in _golds(golds)))


def first_entity(answer: str) -> str:
    """The first answer entity (see the module docstring), not yet normalised."""
    return _ENTITY_SPLIT.split(answer.strip(), maxsplit=1)[0].strip()


def hits_at_1(answer: str, golds: Sequence[str]) -> float:
    entity = normalize_answer(first_entity(answer))
    return float(bool(entity) and any(entity == g for g in _golds(golds)))


def score(answer: str, golds: Sequence[str], *, mode: str) -> dict[str, float]:
    """The metrics of one answer: em, f1, accuracy, and hits_at_1 for kg mode. Empty when there is no gold."""
    if not golds:
        return {}
    scores = {"em": exact_match(answer, golds), "f1": f1_score(answer, golds), "accuracy": accuracy(answer, golds)}
    if mode == "kg":
        scores["hits_at_1"] = hits_at_1(answer, golds)
    return scores


# -- totals ------------------------------------------------------------------------------------------------------

METRICS = ("em", "f1", "accuracy", "hits_at_1")
USAGE = ("llm_calls", "prompt_tokens", "completion_tokens", "cache_hits")


class Tally:
    """Running totals over output records. Metrics are means over the answered lines that carry them (``scored``
    counts those for em/f1/accuracy); error lines count in ``errors`` and never as a wrong answer."""

    def __init__(self) -> None:
        self.planned = self.answered = self.errors = self.scored = 0
        self.sums: dict[str, float] = dict.fromkeys(METRICS, 0.0)
        self.counts: dict[str, int] = dict.fromkeys(METRICS, 0)
        self.usage: dict[str, int] = dict.fromkeys(USAGE, 0)

    def plan(self) -> None:
        """Count one question of the batch, whether or not it gets answered (a limit, Ctrl-C)."""
        self.planned += 1

    def add(self, record: dict[str, Any]) -> None:
        if record.get("error"):
            self.errors += 1
        else:
            self.answered += 1
            self.scored += int("em" in record)
            for name in METRICS:
                if isinstance(record.get(name), (int, float)):
                    self.sums[name] += float(record[name])
                    self.counts[name] += 1
        usage = record.get("usage") or {}
        for name in USAGE:
            value = usage.get(name)
            if isinstance(value, int):
                self.usage[name] += value

    def mean(self, name: str) -> float | None:
        n = self.counts[name]
        return round(self.sums[name] / n, 4) if n else None

    def summary(self) -> dict[str, Any]:
        return {
            "total": max(self.planned, self.answered + self.errors),
            "answered": self.answered,
            "errors": self.errors,
            "scored": self.scored,
            **{name: self.mean(name) for name in METRICS},
            **self.usage,
        }


class Scoreboard:
    """The batch summary: one Tally overall and one per mode."""

    def __init__(self) -> None:
        self.overall = Tally()
        self.by_mode: dict[str, Tally] = {}
        self.first_error: str | None = None  # what to tell the user when no question could be answered

    def add(self, record: dict[str, Any]) -> None:
        if record.get("error") and self.first_error is None:
            self.first_error = str(record["error"])
        self.overall.add(record)
        self.by_mode.setdefault(str(record.get("mode", "")), Tally()).add(record)

    def plan(self, mode: str) -> None:
        self.overall.plan()
        self.by_mode.setdefault(mode, Tally()).plan()

    @property
    def errors(self) -> int:
        return self.overall.errors

    def summary(self) -> dict[str, Any]:
        return {**self.overall.summary(), "by_mode": {m: t.summary() for m, t in sorted(self.by_mode.items())}}
