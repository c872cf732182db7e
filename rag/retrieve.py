"""Retrieval: top-k vector search, or hybrid BM25 + vector fused by reciprocal rank (RRF, k = 60).

Every returned chunk carries its cosine similarity to the question (MAIN-RAG's ``score_mix`` uses it), also for
chunks that only BM25 found. The BM25 index is built from the collection's texts on first use and cached per
collection until its version token changes (every ingest that changes something bumps it).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agent.core.config import Settings
from agent.core.errors import BadInputError
from rag.bm25 import BM25, rrf
from rag.embed import get_embedder
from rag.store import Collection, client_key, open_collection

RRF_K = 60
_bm25_cache: dict[tuple[tuple[str, ...], str], tuple[str, BM25]] = {}
_bm25_lock = threading.Lock()


class RetrievedDoc(BaseModel):
    """One retrieved chunk, in retrieval order (``rank`` from 1)."""

    id: str
    text: str
    source: str = ""
    title: str = ""
    section: str = ""
    similarity: float = 0.0
    rank: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)


def no_documents(name: str) -> BadInputError:
    return BadInputError(f"no documents ingested in collection {name}: run `lodestar ingest PATH`")


def open_for_search(settings: Settings, name: str | None = None) -> Collection:
    name = name or settings.rag.collection
    collection = open_collection(settings, name)
    if collection is None or collection.count() == 0:
        raise no_documents(name)
    return collection


def bm25_index(settings: Settings, collection: Collection) -> BM25:
    """The collection's BM25 index, rebuilt only when an ingest changed the collection."""
    key = (client_key(settings), collection.name)
    version = collection.version
    with _bm25_lock:
        cached = _bm25_cache.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        ids: list[str] = []
        texts: list[str] = []
        for page_ids, page_texts in collection.iter_texts():
            ids.extend(page_ids)
            texts.extend(page_texts)
        index = BM25(ids, texts)
        _bm25_cache[key] = (version, index)
        return index


def _to_doc(chunk_id: str, item: dict[str, Any], similarity: float, rank: int) -> RetrievedDoc:
    meta = item.get("metadata", {})
    return RetrievedDoc(
        id=chunk_id,
        text=item.get("text", ""),
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        similarity=round(float(similarity), 6),
        rank=rank,
        metadata=meta,
    )


def retrieve_sync(
    question: str,
    settings: Settings,
    *,
    top_k: int | None = None,
    collection: str | None = None,
    hybrid: bool | None = None,
) -> list[RetrievedDoc]:
    """The ``top_k`` chunks for ``question`` (blocking; see :func:`retrieve`)."""
    k = top_k or settings.rag.top_k
    hybrid = settings.rag.hybrid if hybrid is None else hybrid
    store = open_for_search(settings, collection)
    embedder = get_embedder(settings.rag.embedding_model)
    query_vector = embedder.encode([question])[0]
    pool = max(k * 4, 40) if hybrid else k
    vector_hits = store.query(query_vector, min(pool, store.count()))
    similarities = dict(vector_hits)
    if hybrid:
        lexical = bm25_index(settings, store).top(question, pool)
        fused = rrf([[i for i, _ in vector_hits], [i for i, _ in lexical]], k=RRF_K)
        chosen = [i for i, _ in fused[:k]]
    else:
        chosen = [i for i, _ in vector_hits[:k]]
    missing = [i for i in chosen if i not in similarities]
    items = store.get(chosen, embeddings=bool(missing))
    for chunk_id in missing:
        vector = items.get(chunk_id, {}).get("embedding")
        if vector is not None:
            similarities[chunk_id] = float(np.dot(np.asarray(vector, dtype=np.float32), query_vector))
    return [
        _to_doc(i, items[i], similarities.get(i, 0.0), rank)
        for rank, i in enumerate((i for i in chosen if i in items), 1)
    ]


async def retrieve(
    question: str,
    settings: Settings,
    *,
    top_k: int | None = None,
    collection: str | None = None,
    hybrid: bool | None = None,
) -> list[RetrievedDoc]:
    """Retrieve in a worker thread: embedding and Chroma calls block."""
    return await asyncio.to_thread(retrieve_sync, question, settings, top_k=top_k, collection=collection, hybrid=hybrid)
