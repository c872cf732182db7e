"""Shared helpers for the kg tests: small graphs and a scripted "explorer" for the fake OpenAI server.

The scripted explorer reads each ToG prompt the way a model would (prompt type from the system message, the
instance from the user message's data blocks) and answers from a small policy, in ToG's text formats or, when
the request carries ``response_format``, in JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.testing.fake_openai import Reply
from kg import prompts
from kg.store import KnowledgeGraph

NAVIGATION = [
    ("H4", "made_by", "John Harrison"),
    ("H4", "carried_on", "HMS Deptford"),
    ("H4", "carried_on", "HMS Tartar"),
    ("H4", "completed_in_year", "1759"),
    ("H4", "successor_of", "H3"),
    ("H3", "made_by", "John Harrison"),
    ("John Harrison", "born_in", "Foulby"),
    ("John Harrison", "occupation", "clockmaker"),
    ("John Harrison", "invented", "gridiron pendulum"),
    ("John Harrison", "invented", "grasshopper escapement"),
    ("Foulby", "located_in", "Yorkshire"),
    ("HMS Deptford", "sailed_to", "Jamaica"),
    ("HMS Tartar", "sailed_to", "Barbados"),
]


def build_graph(triples: list[tuple[str, str, str]]) -> KnowledgeGraph:
    graph = KnowledgeGraph()
    for h, r, t in triples:
        graph.add_triple(h, r, t, h, t)
    return graph


def block(text: str, label: str) -> str | None:
    match = re.search(rf"<<<{re.escape(label)}>>>\n(.*?)\n<<<end {re.escape(label)}>>>", text, re.S)
    return match.group(1) if match else None


def kind_of(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    for kind, marker in (
        ("relation", "relations of the topic entity"),
        ("entity", prompts.ENTITY_TASK[:30]),
        ("evaluate", prompts.EVALUATE_TASK[:30]),
        ("answer", prompts.ANSWER_TASK[:30]),
        ("cot", prompts.COT_TASK[:30]),
    ):
        if marker in system:
            return kind
    return "unknown"


@dataclass
class Explorer:
    """A deterministic stand-in for the explorer and summarizer models.

    ``relations``: preferred relation names (scored in that order, 0.5/0.3/0.2…); others are not picked unless
    ``pick_all``. ``entities``: preferred entity names (score 1, others 0) — empty means uniform.
    ``sufficient_when``: a triplet line ("h, r, t") whose presence makes the check say Yes.
    """

    relations: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    sufficient_when: str | None = None
    answer: str = "Foulby"
    pick_all: bool = False
    zero_scores: bool = False
    relation_reply: str | None = None  # verbatim reply to every relation prompt
    evaluate_reply: Callable[[str], str] | None = None  # triplets block -> reply
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, body: dict[str, Any], index: int) -> Reply:
        kind = kind_of(body)
        self.log.append((kind, body))
        user = body["messages"][-1]["content"]
        as_json = body.get("response_format") is not None
        if kind == "relation":
            return Reply(content=self._relations(user, as_json))
        if kind == "entity":
            return Reply(content=self._entities(user, as_json))
        if kind == "evaluate":
            return Reply(content=self._evaluate(user, as_json))
        if kind == "answer":
            return Reply(content=f"From the triplets, the answer is {{{self.answer}}}.")
        if kind == "cot":
            return Reply(content="I am not sure. The answer is {unknown}.")
        return Reply(content="?")

    def _relations(self, user: str, as_json: bool) -> str:
        if self.relation_reply is not None:
            return self.relation_reply
        listed = (block(user, "relations") or "").split("; ")
        chosen = [r for r in self.relations if r in listed]
        if self.pick_all or not chosen:
            chosen += [r for r in listed if r not in chosen]
        weights = [0.5, 0.3, 0.2, 0.1, 0.1, 0.1]
        picks = [(r, weights[min(i, len(weights) - 1)]) for i, r in enumerate(chosen)]
        if as_json:
            return json.dumps({"relations": [{"name": r, "score": s} for r, s in picks]})
        return "\n".join(f"{i}. {{{r} (Score: {s})}}: useful." for i, (r, s) in enumerate(picks, 1))

    def _entities(self, user: str, as_json: bool) -> str:
        names = (block(user, "entities") or "").split("; ")
        if self.zero_scores:
            scores = [0.0] * len(names)
        elif any(n in self.entities for n in names):
            scores = [1.0 if n in self.entities else 0.0 for n in names]
        else:
            scores = [round(1.0 / len(names), 3)] * len(names)
        if as_json:
            return json.dumps({"scores": scores})
        return ", ".join(f"{s:.3f}" for s in scores) + "\nBecause."

    def _evaluate(self, user: str, as_json: bool) -> str:
        triplets = block(user, "triplets") or ""
        if self.evaluate_reply is not None:
            return self.evaluate_reply(triplets)
        yes = self.sufficient_when is not None and self.sufficient_when in triplets.splitlines()
        if as_json:
            return json.dumps({"sufficient": yes, "answer": self.answer if yes else ""})
        return f"{{Yes}}. The answer is {{{self.answer}}}." if yes else "{No}. Not enough."

    def calls(self, kind: str) -> list[dict[str, Any]]:
        return [body for k, body in self.log if k == kind]
