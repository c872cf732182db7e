"""Tolerant parsers for ToG's text formats, and the JSON schemas used instead when the endpoint honours them.

Each parser reads only the model's own reply, never the prompt, so graph text cannot answer for the model.
Failures degrade the way ToG's code does: no relation → the branch is pruned; wrong number of entity scores →
uniform; no ``{Yes}`` → not sufficient. Each such repair or fallback is reported through ``on_repair(problem,
action)`` so the trace can say why the search went the way it did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from kg.store import normalize

_REL_BRACED = re.compile(r"\{\s*(?P<rel>[^(){}\n]+?)\s*\(\s*Score\s*:\s*(?P<score>\d*\.?\d+)\s*\)+\s*\}?", re.I)
_REL_BARE = re.compile(
    r"(?m)^\s*(?:\d+[.)]\s*)?(?P<rel>[^\s(){}][^(){}\n]*?)\s*\(\s*Score\s*:\s*(?P<score>\d*\.?\d+)\s*\)", re.I
)
_FLOAT = re.compile(r"\d+\.\d+")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_BRACES = re.compile(r"\{([^{}]*)\}")
_LEADING_YES = re.compile(r"^\W*yes\b", re.I)

OnRepair = Callable[[str, str], None] | None


def _report(on_repair: OnRepair, problem: str, action: str) -> None:
    if on_repair is not None:
        on_repair(problem, action)


def _match_relation(name: str, candidates: Sequence[str]) -> str | None:
    name = name.strip().strip("`'\"")
    if name in candidates:
        return name
    wanted = normalize(name)
    for candidate in candidates:
        if normalize(candidate) == wanted:
            return candidate
    return None


def _mentioned(text: str, candidates: Sequence[str], limit: int) -> list[tuple[str, float]]:
    """Candidates named in prose ("has genre" for has_genre), in order of first mention, sharing the score."""
    haystack = f" {normalize(text)} "
    found = []
    for candidate in candidates:
        key = normalize(candidate)
        if len(key) >= 4 and (at := haystack.find(f" {key} ")) >= 0:
            found.append((at, candidate))
    picked = [c for _, c in sorted(found)][:limit]
    return [(c, round(1.0 / len(picked), 4)) for c in picked]


def parse_relations(
    text: str, candidates: Sequence[str], limit: int, on_repair: OnRepair = None
) -> list[tuple[str, float]]:
    """``{rel (Score: x)}`` picks restricted to ``candidates`` (unknown ones dropped), best ``limit`` first.

    Where ToG's regex finds nothing (and would prune the branch), candidates the reply names in prose are taken
    with equal scores: small models often answer "the has_genre relation" instead of the format.
    """
    matches = list(_REL_BRACED.finditer(text)) or list(_REL_BARE.finditer(text))
    if not matches:
        mentioned = _mentioned(text, candidates, limit)
        problem = "no {relation (Score: x)} in the relation-pruning reply"
        _report(
            on_repair, problem, "repaired: took the relations it names" if mentioned else "fell back: branch pruned"
        )
        return mentioned
    picked: dict[str, float] = {}
    for match in matches:
        raw = match.group("rel")
        if ";" in raw:  # ToG: a match listing several relations is skipped
            continue
        relation = _match_relation(raw, candidates)
        if relation is None or relation in picked:
            continue
        try:
            picked[relation] = max(0.0, float(match.group("score")))
        except ValueError:
            continue
    ranked = sorted(picked.items(), key=lambda kv: -kv[1])
    return ranked[:limit]


def parse_entity_scores(text: str, count: int, on_repair: OnRepair = None) -> list[float] | None:
    """``count`` scores in entity order, or None when the reply does not give exactly that many (caller: uniform).

    ToG takes every ``\\d+.\\d+`` in the reply; we first try the first line (the scores line), which survives an
    explanation that mentions other numbers, then the ToG rule.
    """
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines:
        first = [float(x) for x in _NUMBER.findall(lines[0])]
        if len(first) == count:
            return first
    floats = [float(x) for x in _FLOAT.findall(text)]
    if len(floats) == count:
        return floats
    _report(on_repair, f"the entity-scoring reply does not give {count} scores", "fell back to equal scores")
    return None


def parse_sufficiency(text: str, on_repair: OnRepair = None) -> tuple[bool, str | None]:
    """(sufficient, answer): the first ``{…}`` is Yes/No (a bare leading "Yes" also counts); the answer is the 2nd."""
    braces = _BRACES.findall(text)
    if braces:
        sufficient = braces[0].replace(" ", "").lower().strip(".") == "yes"
    else:
        sufficient = bool(_LEADING_YES.match(text))
        action = "repaired: read its leading Yes" if sufficient else "fell back to not sufficient"
        _report(on_repair, "no {Yes} or {No} in the sufficiency reply", action)
    answer = braces[1].strip() if sufficient and len(braces) > 1 else None
    return sufficient, answer or None


def extract_answer(text: str) -> str | None:
    """ToG's eval rule: after a ``{Yes}`` take the 2nd ``{…}``, else the 1st; None without braces."""
    braces = [b.strip() for b in _BRACES.findall(text)]
    if not braces:
        return None
    if braces[0].replace(" ", "").lower() in ("yes", "no") and len(braces) > 1:
        return braces[1] or None
    return braces[0] or None


# -- JSON-schema mode -------------------------------------------------------------------------------------------


class Sufficiency(BaseModel):
    sufficient: bool
    answer: str = ""


class EntityScores(BaseModel):
    scores: list[float]


def relation_schema(candidates: Sequence[str], limit: int) -> type[BaseModel]:
    """``{"relations": [{"name": <one of the candidates>, "score": number}]}``; the caller keeps the best ``limit``."""
    choice: Any = Literal[tuple(candidates)]  # a Literal built at run time: mypy cannot check its members
    pick: Any = create_model("RelationPick", name=(choice, ...), score=(float, Field(ge=0)))
    return create_model("RelationPicks", relations=(list[pick], ...))


def entity_schema(count: int) -> type[BaseModel]:
    return create_model("EntityScores", scores=(list[float], Field(min_length=count, max_length=count)))
