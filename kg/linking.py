"""Entity linking: which graph entities a question is about (ToG takes these from dataset annotations).

Cheapest evidence first, stopping at the first stage that finds anything:
1. spans the user marked (``[Doug Collins]``, ``"Lou Seal"``) looked up as names, ids or aliases;
2. word n-grams of the question, longest first and non-overlapping, against the store's label index (one batch;
   a SPARQL endpoint is asked for the literal labels as written);
3. fuzzy n-gram matches (rapidfuzz) for typos and small variations;
4. embedding similarity of n-grams to entity names (all-MiniLM-L6-v2, computed lazily and cached with the graph).
At most ``max_topic_entities`` are returned; an empty list sends ToG to its CoT fallback.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from agent.core.config import KgSettings
from kg.prune import STOPWORDS
from kg.store import KnowledgeGraph, normalize
from kg.stores.base import GraphStore
from kg.stores.open import as_store

MAX_NGRAM = 8
_SURFACE = re.compile(r"[^0-9A-Za-z]+")
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


def _entity(store: GraphStore, node: str, mention: str, method: str, score: float) -> TopicEntity:
    name = store.name(node)
    if method == "exact" and normalize(name) != normalize(mention):
        method = "alias"
    return TopicEntity(id=node, name=name, mention=mention, method=method, score=score)


def surface_words(text: str) -> list[str]:
    """The question's words as written (case kept), aligned one-to-one with ``normalize(text).split()``."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = _SURFACE.split(text)
    aligned = [w for w in words if w and normalize(w)]
    return aligned if len(aligned) == len(normalize(text).split()) else normalize(text).split()


async def link_marked(store: GraphStore, question: str) -> list[TopicEntity]:
    found: list[TopicEntity] = []
    for match in _MARKED.finditer(question):
        span = next(g for g in match.groups() if g is not None).strip()
        for node in await store.by_degree(await store.lookup(span)):
            found.append(_entity(store, node, span, "marked", 1.0))
    return found


async def link_exact(store: GraphStore, question: str) -> list[TopicEntity]:
    """Longest n-grams first, without overlaps; every candidate n-gram goes to the label index in one batch."""
    words = normalize(question).split()
    surface = surface_words(question)
    grams = [(s, e, t) for s, e, t in _ngrams(words, MAX_NGRAM) if _meaningful(words[s:e])]
    matches = await store.match_labels([(t, " ".join(surface[s:e])) for s, e, t in grams])
    covered: set[int] = set()
    found: list[TopicEntity] = []
    for start, end, text in grams:
        nodes = matches.get(text)
        if not nodes or covered & set(range(start, end)):
            continue
        covered.update(range(start, end))
        for node in await store.by_degree(nodes):
            found.append(_entity(store, node, text, "exact", float(end - start)))
    return found


async def link_fuzzy(store: GraphStore, question: str, cutoff: float) -> list[TopicEntity]:
    words = normalize(question).split()
    covered: set[int] = set()
    found: list[TopicEntity] = []
    for start, end, text in _ngrams(words, 4):  # longest first, like exact matching, without overlaps
        if covered & set(range(start, end)) or len(text) < 4 or not _meaningful(text.split()):
            continue
        best = await store.fuzzy(text, cutoff)
        if not best:
            continue
        covered.update(range(start, end))
        key, score = best[0]
        nodes = await store.by_degree((await store.match_labels([(key, key)])).get(key, []))
        found += [_entity(store, node, text, "fuzzy", float(score)) for node in nodes]
    return found


async def link_embedding(
    store: GraphStore, question: str, settings: KgSettings, directory: Path | None
) -> list[TopicEntity]:
    from kg import embed

    words = normalize(question).split()
    grams = [text for _, _, text in _ngrams(words, 4) if _meaningful(text.split())]
    if not grams:
        return []
    pairs = await store.entity_names(settings.embedding_max_entities)
    if not pairs:
        return []
    key = str(directory) if directory else f"memory:{id(store)}"
    ids, matrix = await embed.entity_name_matrix(pairs, store.revision, key, directory, settings.embedding_model)
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
            scored[node] = _entity(store, node, text, "embedding", score)
    return sorted(scored.values(), key=lambda e: -e.score)


async def link_entities(
    graph: GraphStore | KnowledgeGraph, question: str, settings: KgSettings, directory: Path | None = None
) -> list[TopicEntity]:
    """Topic entities for ``question``, best first, at most ``settings.max_topic_entities``."""
    store = as_store(graph)
    found = await link_marked(store, question) or await link_exact(store, question)
    if not found and settings.link_fuzzy_cutoff < 100:
        found = await link_fuzzy(store, question, settings.link_fuzzy_cutoff)
    if not found and settings.link_embeddings:
        found = await link_embedding(store, question, settings, directory)
    unique: dict[str, TopicEntity] = {}
    for entity in found:
        unique.setdefault(entity.id, entity)
    return list(unique.values())[: settings.max_topic_entities]
