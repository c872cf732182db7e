"""Think-on-Graph beam search (Sun et al., ICLR 2024; docs/algorithms.md §2), over any :class:`GraphStore`.

Per depth: relation search + pruning for every frontier entity (concurrent), entity search + scoring for every
kept (entity, relation) pair (concurrent), global top-N by relation score × entity score (zeros dropped), then
one sufficiency check. Fallbacks as in ToG's code: no topic entity → CoT; no candidates or all-zero scores →
answer from the triples so far; depth exhausted → answer from the paths (default; ToG's own code answers by CoT,
``on_depth_exhausted = "cot"``).

Deliberate differences from the reference code, each cheap and documented:
- ``pre_rels`` is per entity (the relations that reached *that* entity), not every relation of the last depth;
- entities already on a path are never revisited; with ``backtrack = "entity"`` that replaces the relation rule;
- a relation present in both directions at an entity is searched both ways, in one candidate list (one call);
- a lone relation or a lone named candidate gets its score without an LLM call;
- the final answer is one streamed summarizer call over the gathered triples (ToG returns the evaluator's text).
LLM calls per question are bounded by :func:`call_bound`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from agent.core.config import KgSettings
from agent.core.errors import ModelOutputError
from agent.core.trace import KgRelation, KgStep, Trace
from agent.llm.client import LLM
from agent.llm.structured import emit_repair
from kg import prompts, prune
from kg.parsing import (
    Sufficiency,
    entity_schema,
    extract_answer,
    parse_entity_scores,
    parse_relations,
    parse_sufficiency,
    relation_schema,
)
from kg.store import KnowledgeGraph, Triple
from kg.stores.base import GraphStore, triple
from kg.stores.open import as_store

T = TypeVar("T")
Fallback = Literal["none", "no_topic_entity", "no_candidates", "depth_exhausted"]
IdTriple = tuple[str, str, str]
_Walk = tuple[str, tuple[IdTriple, ...]]  # (topic entity, triples along the path)


def call_bound(settings: KgSettings, topic_entities: int | None = None) -> int:
    """The most LLM calls one question can take: depth 1 prunes for ≤T topic entities, later depths for ≤N
    frontier entities; each entity costs 1 relation call + ≤N entity calls; +1 sufficiency call per depth; +1 final
    answer. Cheap pruning removes the relation and entity calls; ToG-R removes the entity calls."""
    n, depth = settings.width, settings.depth
    topics = settings.max_topic_entities if topic_entities is None else topic_entities
    relation_calls = 0 if settings.prune != "llm" else 1
    entity_calls = 0 if settings.prune != "llm" or settings.variant == "tog-r" else n
    per_entity = relation_calls + entity_calls
    return (topics * per_entity + 1) + (depth - 1) * (n * per_entity + 1) + 1


@dataclass
class _Frontier:
    entity: str
    origin: str  # the topic entity the path starts from
    path: tuple[IdTriple, ...] = ()
    arrived: set[tuple[str, bool]] = field(default_factory=set)  # (relation, frontier entity was its head)

    def visited(self) -> set[str]:
        return {x for h, _, t in self.path for x in (h, t)} | {self.entity}


@dataclass
class _Pair:
    frontier: _Frontier
    relation: str
    score: float
    directions: tuple[bool, ...]  # True: frontier entity is the head (search tails)


@dataclass
class _Candidate:
    entity: str
    pair: _Pair
    head: bool
    score: float = 0.0

    @property
    def triple(self) -> IdTriple:
        source = self.pair.frontier.entity
        return (source, self.pair.relation, self.entity) if self.head else (self.entity, self.pair.relation, source)

    @property
    def path(self) -> tuple[IdTriple, ...]:
        return (*self.pair.frontier.path, self.triple)


class ToGResult(BaseModel):
    answer: str
    short_answer: str | None = None
    paths: list[list[Triple]] = Field(default_factory=list, description="reasoning paths, topic entity first")
    triples: list[Triple] = Field(default_factory=list, description="every triple the answer was based on")
    topic_entities: list[str] = Field(default_factory=list)
    fallback: Fallback = "none"
    sufficient: bool = False
    depth: int = 0
    llm_calls: int = 0
    output_format: str = "text"


class ThinkOnGraph:
    """One question's search. ``explorer`` prunes, scores and checks sufficiency; ``summarizer`` answers."""

    def __init__(
        self,
        graph: GraphStore | KnowledgeGraph,
        explorer: LLM,
        summarizer: LLM,
        settings: KgSettings,
        *,
        trace: Trace | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> None:
        self.graph = as_store(graph)
        self.explorer = explorer
        self.summarizer = summarizer
        self.settings = settings
        self.trace = trace
        self.on_delta = on_delta
        self.calls = 0
        mode = settings.output_format
        self.json_mode = mode == "json" or (mode == "auto" and explorer.capabilities.json_schema)
        self.rng = random.Random(settings.seed)

    # -- LLM calls (all counted) --------------------------------------------------------------------------------

    async def _text(self, messages: list[dict], temperature: float) -> str:
        self.calls += 1
        completion = await self.explorer.complete(
            messages,
            temperature=temperature,
            max_tokens=self.settings.max_tokens,
            stop=prompts.STOP,
            seed=self.settings.seed,
        )
        return completion.text

    def _repaired(self, problem: str, action: str) -> None:
        emit_repair(self.trace, self.explorer.name, problem, action)

    async def _json(
        self, messages: list[dict], schema: type[BaseModel], temperature: float, fallback: str
    ) -> Any | None:
        """One structured call (no repair round-trips, so the call bound holds); None when it does not parse."""
        self.calls += 1
        try:
            return await self.explorer.complete_json(
                messages,
                schema,
                repairs=0,
                temperature=temperature,
                max_tokens=self.settings.max_tokens,
                seed=self.settings.seed,
            )
        except ModelOutputError as exc:
            self._repaired(str(exc), fallback)
            return None

    # -- relation exploration -----------------------------------------------------------------------------------

    def _candidate_relations(
        self, frontier: _Frontier, around: tuple[list[str], list[str]]
    ) -> tuple[list[str], set[str], set[str]]:
        head_rels, tail_rels = around
        heads, tails = set(head_rels), set(tail_rels)
        if self.settings.backtrack == "relation":
            for relation, was_head in frontier.arrived:  # ToG: drop it on the side we arrived from
                (heads if was_head else tails).discard(relation)
        skip = self.settings.skip_relations
        if skip:
            name = self.graph.relation_name

            def kept(r: str) -> bool:
                return not any(fnmatch.fnmatchcase(name(r), p) or fnmatch.fnmatchcase(r, p) for p in skip)

            heads, tails = {r for r in heads if kept(r)}, {r for r in tails if kept(r)}
        by_name: dict[str, str] = {}  # shown name -> id; the first id wins when two IRIs share a local name
        for relation in sorted(heads | tails, key=lambda r: (self.graph.relation_name(r), r)):
            by_name.setdefault(self.graph.relation_name(relation), relation)
        return list(by_name.values()), heads, tails

    async def _prune_relations(
        self, question: str, frontier: _Frontier, around: tuple[list[str], list[str]]
    ) -> list[_Pair]:
        relations, heads, tails = self._candidate_relations(frontier, around)
        if not relations:
            return []
        n = self.settings.width
        # The model sees sanitized names (in the prompt and in the JSON schema's enum alike); picks map back to ids.
        ids: dict[str, str] = {}
        for relation in relations:
            ids.setdefault(prompts.safe(self.graph.relation_name(relation)) or relation, relation)
        shown = list(ids)
        if len(relations) == 1:
            picks = [(shown[0], 1.0)]
        elif self.settings.prune != "llm":
            scores = await prune.rank(self.settings.prune, question, shown, self.settings.embedding_model)
            picks = sorted(zip(shown, scores, strict=True), key=lambda rs: -rs[1])[:n]
        else:
            name = self.graph.name(frontier.entity)
            messages = prompts.relation_messages(question, name, shown, n, json_mode=self.json_mode)
            temperature = self.settings.temperature_exploration
            if self.json_mode:
                reply = await self._json(messages, relation_schema(shown, n), temperature, "fell back: branch pruned")
                found: dict[str, float] = {}
                for pick in reply.relations if reply is not None else []:
                    found.setdefault(pick.name, float(pick.score))
                picks = sorted(found.items(), key=lambda rs: -rs[1])[:n]
            else:
                picks = parse_relations(await self._text(messages, temperature), shown, n, self._repaired)
        picks = [(ids[r], score) for r, score in picks if r in ids]
        return [
            _Pair(
                frontier, relation, score, tuple(d for d, side in ((True, heads), (False, tails)) if relation in side)
            )
            for relation, score in picks
        ]

    # -- entity exploration -------------------------------------------------------------------------------------

    async def _search_all(self, pairs: list[_Pair]) -> list[tuple[_Pair, list[_Candidate]]]:
        """Every pair's neighbours in one batched store call, then sampled in pair order (deterministic)."""
        requests = [(p.frontier.entity, p.relation, head) for p in pairs for head in p.directions]
        found = iter(await self.graph.neighbours(requests))
        lists = [{head: next(found) for head in p.directions} for p in pairs]
        return [(pair, self._search(pair, nodes)) for pair, nodes in zip(pairs, lists, strict=True)]

    def _search(self, pair: _Pair, nodes: dict[bool, list[str]]) -> list[_Candidate]:
        """Neighbours along ``pair`` (sorted by name; sampled when the relation fans out too far)."""
        seen = pair.frontier.visited()
        found: list[_Candidate] = []
        for head in pair.directions:
            for node in nodes[head]:
                if node not in seen:
                    seen.add(node)
                    found.append(_Candidate(node, pair, head))
        found.sort(key=lambda c: (self.graph.name(c.entity), c.entity))
        if len(found) >= self.settings.sample_threshold:
            found = self.rng.sample(found, min(self.settings.num_retain_entity, len(found)))
            found.sort(key=lambda c: (self.graph.name(c.entity), c.entity))
        return found

    async def _score(self, question: str, pair: _Pair, found: list[_Candidate]) -> list[_Candidate]:
        named = [c for c in found if self.graph.has_name(c.entity)]
        if not named:  # ToG: all unnamed → share the relation score
            for c in found:
                c.score = pair.score / len(found)
            return found
        if len(named) == 1 or self.settings.variant == "tog-r":
            for c in named:
                c.score = pair.score
            return named
        names = [self.graph.name(c.entity) for c in named]
        if self.settings.prune != "llm":
            scores: list[float] | None = await prune.rank(
                self.settings.prune, question, names, self.settings.embedding_model
            )
        else:
            messages = prompts.entity_messages(
                question, self.graph.relation_name(pair.relation), names, json_mode=self.json_mode
            )
            temperature = self.settings.temperature_exploration
            if self.json_mode:
                reply = await self._json(messages, entity_schema(len(names)), temperature, "fell back to equal scores")
                scores = [float(x) for x in reply.scores] if reply is not None else None
            else:
                scores = parse_entity_scores(await self._text(messages, temperature), len(names), self._repaired)
        if scores is None or len(scores) != len(named):
            scores = [1.0 / len(named)] * len(named)
        for c, s in zip(named, scores, strict=True):
            c.score = pair.score * max(0.0, s)
        return named

    # -- reasoning ----------------------------------------------------------------------------------------------

    def _names(self, ids: IdTriple) -> Triple:
        return triple(self.graph, *ids)

    def _evidence(self, chains: Sequence[IdTriple], walks: Sequence[_Walk]) -> str:
        """What the reasoning prompts see: ToG's triples, one per line; ToG-R's whole relation paths."""
        if self.settings.variant == "tog-r" and walks:
            lines = []
            for origin, path in walks:
                node, parts = origin, [self.graph.name(origin)]
                for h, r, t in path:
                    node = t if h == node else h
                    parts += [self.graph.relation_name(r), self.graph.name(node)]
                lines.append(", ".join(prompts.safe(p) for p in parts))
            return "\n".join(lines)
        return prompts.triples_text([self._names(t).as_list() for t in chains])

    async def _sufficient(self, question: str, evidence: str) -> tuple[bool, str | None]:
        messages = prompts.evaluate_messages(question, evidence, json_mode=self.json_mode)
        temperature = self.settings.temperature_reasoning
        if self.json_mode:
            reply = await self._json(messages, Sufficiency, temperature, "fell back to not sufficient")
            if reply is None:
                return False, None
            return bool(reply.sufficient), (reply.answer or None) if reply.sufficient else None
        return parse_sufficiency(await self._text(messages, temperature), self._repaired)

    async def _final(self, messages: list[dict]) -> str:
        """The answer, streamed through ``on_delta`` when someone watches and the endpoint streams."""
        self.calls += 1
        options = {
            "temperature": self.settings.temperature_reasoning,
            "max_tokens": self.settings.max_tokens,
            "seed": self.settings.seed,
        }
        text = await self.summarizer.respond(messages, self.on_delta, **options)
        return text.strip()

    def _emit(self, step: KgStep) -> None:
        if self.trace is not None:
            self.trace.emit(step)

    # -- the search ---------------------------------------------------------------------------------------------

    async def run(self, question: str, topic: Sequence[str]) -> ToGResult:
        topic_names = [self.graph.name(t) for t in topic]
        base = {"topic_entities": topic_names, "output_format": "json" if self.json_mode else "text"}
        if not topic:
            text = await self._final(prompts.cot_messages(question))
            return ToGResult(
                answer=text, short_answer=extract_answer(text), fallback="no_topic_entity", llm_calls=self.calls, **base
            )
        # Sampling must not depend on the question order in a batch: one RNG per (seed, question).
        digest = hashlib.sha256(f"{self.settings.seed}\0{question}".encode()).digest()
        self.rng = random.Random(int.from_bytes(digest[:8], "big"))
        frontier = [_Frontier(t, t) for t in dict.fromkeys(topic)]
        chains: list[IdTriple] = []
        kept_paths: list[_Walk] = []
        fallback: Fallback = "depth_exhausted"
        sufficient = False
        depth = 0
        for depth in range(1, self.settings.depth + 1):
            around = await self.graph.relations([f.entity for f in frontier])  # one batch for the whole frontier
            pair_lists = await _gather(
                self._prune_relations(question, f, around.get(f.entity, ([], []))) for f in frontier
            )
            pairs = [p for group in pair_lists for p in group]
            searched = await self._search_all(pairs)
            scored = await _gather(self._score(question, pair, found) for pair, found in searched if found)
            candidates = [c for group in scored for c in group]
            step = KgStep(
                depth=depth,
                frontier=[self.graph.name(f.entity) for f in frontier],
                relations=[
                    KgRelation(
                        entity=self.graph.name(p.frontier.entity),
                        relation=self.graph.relation_name(p.relation),
                        score=p.score,
                    )
                    for p in pairs
                ],
                candidates=len(candidates),
            )
            if self.settings.variant == "tog-r":
                self.rng.shuffle(candidates)  # ToG-R: random choice among equally scored entities
            top = [c for c in sorted(candidates, key=lambda c: -c.score)[: self.settings.width] if c.score > 0]
            if not top:
                self._emit(step)
                fallback = "no_candidates"
                break
            for c in top:
                if c.triple not in chains:
                    chains.append(c.triple)
                kept_paths.append((c.pair.frontier.origin, c.path))
            step.kept = [[list(self._names(t).as_list()) for t in c.path] for c in top]
            sufficient, _ = await self._sufficient(question, self._evidence(chains, _maximal(kept_paths)))
            step.sufficient = sufficient
            self._emit(step)
            if sufficient:
                fallback = "none"
                break
            next_frontier: dict[str, _Frontier] = {}
            for c in top:
                entry = next_frontier.setdefault(c.entity, _Frontier(c.entity, c.pair.frontier.origin, c.path))
                entry.arrived.add((c.pair.relation, not c.head))
            frontier = list(next_frontier.values())
        paths = _maximal(kept_paths)
        if chains and (fallback != "depth_exhausted" or self.settings.on_depth_exhausted == "paths"):
            text = await self._final(prompts.answer_messages(question, self._evidence(chains, paths)))
            used = chains
        else:
            text = await self._final(prompts.cot_messages(question))
            used = []
        return ToGResult(
            answer=text,
            short_answer=extract_answer(text),
            paths=[[self._names(t) for t in path] for _, path in paths] if used else [],
            triples=[self._names(t) for t in used],
            fallback=fallback,
            sufficient=sufficient,
            depth=depth,
            llm_calls=self.calls,
            **base,
        )


async def _gather(coroutines: Iterable[Awaitable[T]]) -> list[T]:
    """``asyncio.gather`` that cancels the siblings when one call fails, so no request outlives the search."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _maximal(walks: Sequence[_Walk]) -> list[_Walk]:
    """Kept paths that no other kept path extends, in order, without duplicates."""
    unique = list(dict.fromkeys(walks))
    return [(o, p) for o, p in unique if not any(o2 == o and len(q) > len(p) and q[: len(p)] == p for o2, q in unique)]
