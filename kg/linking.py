"""Entity linking: which graph entities a question is about (ToG takes these from dataset annotations).

Cheapest evidence first, stopping at the first stage that finds anything:
1. spans the user marked (``[Doug Collins]``, ``"Lou Seal"``) looked up as names, ids or aliases;
2. word n-grams of the question, longest first and non-overlapping, against normalised names and aliases;
3. fuzzy n-gram matches (rapidfuzz) for typos and small variations;
4. embedding similarity of n-grams to entity names (all-MiniLM-L6-v2, computed lazily and cached with the graph).
At most ``max_topic_entities`` are returned; an empty list sends ToG to its CoT fallback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from agent.core.config import KgSettings
from kg.prune import STOPWORDS
from kg.store import KnowledgeGraph, normalize

MAX_NGRAM = 8
_MARKED = re.compile(r"\[([^\[\]]{1,200})\]|\"([^\"]{1,200})\"|“([^”]{1,200})”")


class TopicEntity(BaseModel):
    id: str
    name: str
    mention: str
    method: Literal["marked", "exact", "alias", "fuzzy", "embedding"]
    score: float = 1.0


def _ngrams(words: list[str], max_n: int) -> list[tuple[int, int, str]]:
    """(start, end, text) for every n-gram, longest first, left to right."""
    spans = []
    for n in range(min(max_n, len(words)), 0, -1):
        for start in range(len(words) - n + 1):
            spans.append((start, start + n, " ".join(words[start : start + n])))
    return spans


def _meaningful(words: list[str]) -> bool:
    return any(w not in STOPWORDS for w in words) and len("".join(words)) >= 2


def _entity(graph: KnowledgeGraph, node: str, mention: str, method: str, score: float) -> TopicEntity:
    name = graph.name(node)
    if method == "exact" and normalize(name) != normalize(mention):
        method = "alias"
    return TopicEntity(id=node, name=name, mention=mention, method=method, score=score)


def _by_degree(graph: KnowledgeGraph, nodes: list[str]) -> list[str]:
    return sorted(nodes, key=lambda n: -graph.g.degree(n))


def link_marked(graph: KnowledgeGraph, question: str) -> list[TopicEntity]:
    found: list[TopicEntity] = []
    for match in _MARKED.finditer(question):
        span = next(g for g in match.groups() if g is not None).strip()
        for node in _by_degree(graph, graph.lookup(span)):
            found.append(_entity(graph, node, span, "marked", 1.0))
    return found


def link_exact(graph: KnowledgeGraph, question: str) -> list[TopicEntity]:
    words = normalize(question).split()
    covered: set[int] = set()
    found: list[TopicEntity] = []
    for start, end, text in _ngrams(words, MAX_NGRAM):
        if covered & set(range(start, end)) or not _meaningful(words[start:end]):
            continue
        nodes = graph.lookup_normalized(text)
        if not nodes:
            continue
        covered.update(range(start, end))
        for node in _by_degree(graph, nodes):
            found.append(_entity(graph, node, text, "exact", float(end - start)))
    return found


def link_fuzzy(graph: KnowledgeGraph, question: str, cutoff: float) -> list[TopicEntity]:
    from rapidfuzz import fuzz, process

    words = normalize(question).split()
    keys = list(graph.index_keys())
    covered: set[int] = set()
    found: list[TopicEntity] = []
    for start, end, text in _ngrams(words, 4):  # longest first, like exact matching, without overlaps
        if covered & set(range(start, end)) or len(text) < 4 or not _meaningful(text.split()):
            continue
        best = process.extractOne(text, keys, scorer=fuzz.ratio, score_cutoff=cutoff)
        if best is None:
            continue
        covered.update(range(start, end))
        key, score, _ = best
        nodes = _by_degree(graph, graph.lookup_normalized(key))
        found += [_entity(graph, node, text, "fuzzy", float(score)) for node in nodes]
    return found


async def link_embedding(
    graph: KnowledgeGraph, question: str, settings: KgSettings, directory: Path | None
) -> list[TopicEntity]:
    from kg import embed

    words = normalize(question).split()
    grams = [text for _, _, text in _ngrams(words, 4) if _meaningful(text.split())]
    if not grams or len(graph) > settings.embedding_max_entities:
        return []
    ids, matrix = await embed.entity_name_matrix(graph, directory, settings.embedding_model)
    if not ids:
        return []
    vectors = await embed.encode(settings.embedding_model, grams)
    sims = vectors @ matrix.T  # (grams, entities)
    scored: dict[str, TopicEntity] = {}
    for row, text in enumerate(grams):
        col = int(sims[row].argmax())
        score = float(sims[row, col])
        if score < settings.link_embedding_threshold:
            continue
        node = ids[col]
        if node not in scored or scored[node].score < score:
            scored[node] = _entity(graph, node, text, "embedding", score)
    return sorted(scored.values(), key=lambda e: -e.score)


async def link_entities(
    graph: KnowledgeGraph, question: str, settings: KgSettings, directory: Path | None = None
) -> list[TopicEntity]:
    """Topic entities for ``question``, best first, at most ``settings.max_topic_entities``."""
    found = link_marked(graph, question) or link_exact(graph, question)
    if not found and settings.link_fuzzy_cutoff < 100:
        found = link_fuzzy(graph, question, settings.link_fuzzy_cutoff)
    if not found and settings.link_embeddings:
        found = await link_embedding(graph, question, settings, directory)
    unique: dict[str, TopicEntity] = {}
    for entity in found:
        unique.setdefault(entity.id, entity)
    return list(unique.values())[: settings.max_topic_entities]
