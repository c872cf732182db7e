"""Sentence embeddings for entity linking and cheap pruning, loaded lazily (torch costs seconds to import).

The model is the process-wide one from :func:`agent.llm.embedding.sentence_model` (shared with rag). Entity-name
embeddings are cached next to the graph, keyed by its revision, so they are computed once per graph version.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.embedding import sentence_model
from kg import graphfile

if TYPE_CHECKING:
    import numpy as np


EMBEDDINGS_FILE = "entity_embeddings.npz"
_names: dict[str, tuple[str, list[str], Any]] = {}  # graph dir -> (revision, ids, matrix)


def encode_sync(name: str, texts: list[str]) -> np.ndarray:
    import numpy as np

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = sentence_model(name, "kg.embedding_model").encode(
        texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


async def encode(name: str, texts: list[str]) -> np.ndarray:
    """Unit vectors, computed off the event loop."""
    return await asyncio.to_thread(encode_sync, name, texts)


def _name_matrix_sync(
    pairs: list[tuple[str, str]], revision: str, key: str, directory: Path | None, model: str
) -> tuple[list[str], np.ndarray]:
    import numpy as np

    cached = _names.get(key)
    if cached is not None and cached[0] == revision:
        return cached[1], cached[2]
    path = directory / EMBEDDINGS_FILE if directory else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["revision"]) == revision and str(data["model"]) == model:
                    ids, matrix = [str(x) for x in data["ids"]], data["vectors"].astype(np.float32)
                    _names[key] = (revision, ids, matrix)
                    return ids, matrix
        except (OSError, KeyError, ValueError):
            pass  # stale or broken cache: recompute below
    ids = [node for node, _ in pairs]
    matrix = encode_sync(model, [name for _, name in pairs])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        vectors = matrix.astype(np.float16)
        graphfile.atomic_write(  # a killed run leaves no temporary behind for long: the next save cleans it
            path.parent,
            path.name,
            lambda fh: np.savez(fh, revision=revision, model=model, ids=np.array(ids), vectors=vectors),
        )
    _names[key] = (revision, ids, matrix)
    return ids, matrix


async def entity_name_matrix(
    pairs: list[tuple[str, str]], revision: str, key: str, directory: Path | None, model: str
) -> tuple[list[str], np.ndarray]:
    """(entity ids, unit vectors of their names), from the on-disk cache when the graph has not changed."""
    return await asyncio.to_thread(_name_matrix_sync, pairs, revision, key, directory, model)
