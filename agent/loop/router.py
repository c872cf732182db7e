"""Auto mode's front half: look at the evidence cheaply, then choose a route — kg, rag, one tool, or direct.

No LLM call is spent here. Evidence, cheapest first:
- the question's shape: arithmetic (a calculator expression), a unit conversion, the current date or time;
- entity linking against the loaded graph (marked spans, exact names and aliases, fuzzy n-grams; no embeddings);
- retrieval against the ingested documents: the best chunk's cosine similarity and its BM25 score, and the BM25
  score of the question's words *beyond* the linked entity names (the details a graph triple rarely holds).

The graph and the documents of examples/ cover the same entities, so a named entity alone does not settle it: a
question whose remaining words still match a document strongly ("which ship carried H4 on its first sea trial to
Jamaica in 1761") asks for detail that lives in the text; one that is only an entity and a relation ("who made
K1", "where was the teacher of Mercator born") is a graph walk.

A capable planner reads the route as a hint and the α-UMi loop runs as before; the embedded 135M model (or
``[loop] planner = "router"``) follows the route alone, which is what keeps a first question on a small model
grounded and short (one MAIN-RAG or Think-on-Graph run instead of a wandering loop).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.core.config import Settings
from agent.core.errors import ToolError
from tools.registry import ToolRegistry

RouteName = Literal["kg", "rag", "tool", "direct"]

# Calibrated on examples/questions.jsonl (bench/loop.py prints the router's agreement with the file's labels):
# on-topic questions reach cosine 0.45-0.8 and BM25 7-35; "What is the capital of France?" 0.35 and 4.6.
RAG_MIN_SIMILARITY = 0.45
RAG_MIN_BM25 = 8.0
# BM25 of the words beyond the entity names: relational questions ("who made K1") score 2-8.5, detail ones 12-32.
RAG_MIN_DETAIL_BM25 = 10.0
FUZZY_MIN_SCORE = 92.0  # fuzzy entity matches below this are too loose to route on
STRONG_LINKS = ("marked", "exact", "alias")

_NUMBER = r"\d+(?:[.,]\d+)?"
_WORD_OPS = (
    (r"\bmultiplied by\b|\btimes\b|×", "*"),
    (r"\bdivided by\b|÷", "/"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bto the power of\b", "**"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
)
_SQRT = re.compile(r"\bsquare root of\s*(" + _NUMBER + r")")
_ARITHMETIC = re.compile(r"[\d(][\d\s.()+\-*/%^]*[\d)]")
_OPERATOR = re.compile(r"\d\s*\)?\s*(?:\*\*|[+\-*/%^])\s*\(?\s*\d|sqrt\(")
_AMOUNT = r"(" + _NUMBER + r"|an?|one)"
_UNIT = r"([a-z/°][a-z/° .]{0,40}?)"
_CONVERT = re.compile(
    r"\b" + _AMOUNT + r"\s+" + _UNIT + r"\s+(?:is|are|in|to|into|as)\s+(?:how many\s+)?" + _UNIT + r"\s*\??$"
)
_HOW_MANY = re.compile(
    r"\bhow many\s+" + _UNIT + r"\s+(?:are\s+|is\s+)?(?:there\s+)?(?:in\s+)?" + _AMOUNT + r"\s+" + _UNIT + r"\s*\??$"
)
_NOW = re.compile(
    r"\b(?:what(?:'s| is) (?:the )?(?:current |today's )?(?:date|time|day)(?: (?:is it|today|now))?|what time is it"
    r"|what day is (?:it|today)|today's date|current (?:date|time))\b"
)


class Evidence(BaseModel):
    """What the router saw; kept in the trace's reason and in tests."""

    entities: list[str] = Field(default_factory=list, description="linked graph entities, best first")
    mentions: list[str] = Field(default_factory=list, description="the question's words that named them")
    link_method: str = ""
    similarity: float = 0.0
    bm25: float = 0.0
    detail_bm25: float = Field(0.0, description="BM25 of the question without the entity mentions")
    source: str = ""


class Route(BaseModel):
    route: RouteName
    reason: str
    tool: str | None = Field(None, description="the tool the route runs: query_graph, search_documents, …")
    arguments: dict[str, Any] = Field(default_factory=dict)
    evidence: Evidence = Field(default_factory=Evidence)

    def hint(self) -> str:
        """One line for a capable planner: the route as advice, never as an order."""
        target = f"the {self.tool} tool" if self.tool else "answering without tools"
        return f"A quick look at the evidence suggests {target} ({self.reason})."


# -- the question's shape ----------------------------------------------------------------------------------------


def arithmetic(question: str) -> str | None:
    """The calculator expression in ``question`` (digits and operators, or their words), if it evaluates."""
    from tools import calc

    text = question.lower().replace(",", "")
    for pattern, symbol in _WORD_OPS:
        text = re.sub(pattern, f" {symbol} ", text)
    text = _SQRT.sub(r"sqrt(\1)", text)
    candidates = [m.group(0).strip() for m in _ARITHMETIC.finditer(text)]
    candidates += re.findall(r"sqrt\(" + _NUMBER + r"\)(?:\s*[+\-*/]\s*" + _NUMBER + r")*", text)
    for expression in sorted(candidates, key=len, reverse=True):
        if not _OPERATOR.search(expression):
            continue
        expression = " ".join(expression.replace("^", "**").split())
        try:
            calc.evaluate(expression)
        except ToolError:  # not an expression the calculator takes: not arithmetic
            continue
        return expression
    return None


def _unit(words: str) -> str | None:
    """The longest tail of ``words`` that names a known unit ("one international nautical mile" → "nautical mile")."""
    from tools import units

    parts = words.strip(" .?").split()
    for start in range(len(parts)):
        candidate = " ".join(parts[start:])
        try:
            units.lookup(candidate)
        except ToolError:  # an unknown unit: try a shorter tail
            continue
        return candidate
    return None


def _amount(text: str) -> float:
    return 1.0 if text in ("a", "an", "one") else float(text.replace(",", "."))


def conversion(question: str) -> dict[str, Any] | None:
    """convert_units arguments for "3 nautical miles in km" or "how many metres are in one nautical mile"."""
    text = question.lower().strip()
    if match := _HOW_MANY.search(text):
        to_words, amount, from_words = match.groups()
    elif match := _CONVERT.search(text):
        amount, from_words, to_words = match.groups()
    else:
        return None
    from tools import units

    source, target = _unit(from_words), _unit(to_words)
    if source is None or target is None:
        return None
    try:
        units.convert(_amount(amount), source, target)
    except ToolError:  # e.g. metres to hours: not a conversion
        return None
    return {"value": _amount(amount), "from_unit": source, "to_unit": target}


def asks_for_now(question: str) -> bool:
    return bool(_NOW.search(question.lower()))


def shape_route(question: str, registry: ToolRegistry) -> Route | None:
    if "calculator" in registry and (expression := arithmetic(question)):
        return Route(
            route="tool", reason=f"arithmetic: {expression}", tool="calculator", arguments={"expression": expression}
        )
    if "convert_units" in registry and (arguments := conversion(question)):
        reason = f"a unit conversion: {arguments['from_unit']} to {arguments['to_unit']}"
        return Route(route="tool", reason=reason, tool="convert_units", arguments=arguments)
    if "current_datetime" in registry and asks_for_now(question):
        return Route(route="tool", reason="asks for the current date or time", tool="current_datetime")
    return None


# -- the graph and the documents ---------------------------------------------------------------------------------


async def graph_evidence(question: str, settings: Settings) -> tuple[list[str], list[str], str]:
    """(linked entity names, their mentions, how they were linked); nothing when no graph is loaded."""
    from agent.core.errors import BadInputError
    from kg.linking import link_exact, link_fuzzy, link_marked
    from kg.stores.open import open_store

    try:
        store = await asyncio.to_thread(open_store, settings.home, settings.kg)
    except BadInputError:
        return [], [], ""
    found = await link_marked(store, question) or await link_exact(store, question)
    if not found and settings.kg.link_fuzzy_cutoff < 100:
        fuzzy = await link_fuzzy(store, question, settings.kg.link_fuzzy_cutoff)
        found = [e for e in fuzzy if e.score >= FUZZY_MIN_SCORE]
    names = list(dict.fromkeys(e.name for e in found))[: settings.kg.max_topic_entities]
    return names, [e.mention for e in found], found[0].method if found else ""


def document_evidence(question: str, settings: Settings, evidence: Evidence) -> None:
    """Fill in the best cosine similarity, BM25 scores and best source over the ingested documents."""
    from agent.core.errors import BadInputError
    from kg.store import normalize
    from rag.retrieve import bm25_index, open_for_search, retrieve_sync

    try:
        store = open_for_search(settings)
    except BadInputError:
        return
    docs = retrieve_sync(question, settings, top_k=3, hybrid=False)
    index = bm25_index(settings, store)

    def best_bm25(text: str) -> float:
        top = index.top(text, 1) if text.strip() else []
        return top[0][1] if top else 0.0

    best = max(docs, key=lambda d: d.similarity, default=None)
    evidence.similarity, evidence.source = (best.similarity, best.source) if best else (0.0, "")
    evidence.bm25 = best_bm25(question)
    rest = normalize(question)
    for mention in evidence.mentions:
        rest = rest.replace(mention, " ")
    evidence.detail_bm25 = best_bm25(rest) if evidence.mentions else evidence.bm25


async def gather_evidence(question: str, settings: Settings, registry: ToolRegistry) -> Evidence:
    evidence = Evidence()
    if "query_graph" in registry:
        evidence.entities, evidence.mentions, evidence.link_method = await graph_evidence(question, settings)
    if "search_documents" in registry:
        await asyncio.to_thread(document_evidence, question, settings, evidence)
    return evidence


def decide(question: str, evidence: Evidence) -> Route:
    """The route from the evidence: a named graph entity → kg, unless the question's other words match a document
    strongly (→ rag); no entity but a document that matches well → rag; otherwise direct."""
    if evidence.entities and evidence.detail_bm25 < RAG_MIN_DETAIL_BM25:
        names = ", ".join(evidence.entities)
        return Route(
            route="kg",
            reason=f"names graph entities: {names} ({evidence.link_method} match)",
            tool="query_graph",
            arguments={"question": question},
            evidence=evidence,
        )
    if evidence.entities or evidence.similarity >= RAG_MIN_SIMILARITY or evidence.bm25 >= RAG_MIN_BM25:
        detail = f", {evidence.detail_bm25:.1f} beyond the entity names" if evidence.entities else ""
        return Route(
            route="rag",
            reason=f"the documents match: similarity {evidence.similarity:.2f}, BM25 {evidence.bm25:.1f}{detail} "
            f"({evidence.source.rsplit('/', 1)[-1] or 'a chunk'})",
            tool="search_documents",
            arguments={"query": question},
            evidence=evidence,
        )
    parts = []
    if evidence.similarity or evidence.bm25:
        parts.append(f"best document similarity {evidence.similarity:.2f}, BM25 {evidence.bm25:.1f}")
    reason = "no graph entity, no matching document" + (f" ({parts[0]})" if parts else "") + ", not a calculation"
    return Route(route="direct", reason=reason, evidence=evidence)


async def choose_route(question: str, settings: Settings, registry: ToolRegistry) -> Route:
    """The route for ``question`` given the tools of this run (a knowledge tool left out is never routed to)."""
    return shape_route(question, registry) or decide(question, await gather_evidence(question, settings, registry))


def router_decides(settings: Settings) -> bool:
    """``loop.planner``: router alone, or the LLM planner with the route as a hint (auto: router on the embedded
    model, whose planner wanders)."""
    if settings.loop.planner == "auto":
        return settings.uses_local
    return settings.loop.planner == "router"
