"""Sentence embeddings for documents: the shared model (agent/llm/embedding.py) plus what chunking needs.

We compute embeddings ourselves and hand vectors to Chroma, so Chroma never downloads an embedding function.
The model itself is loaded once per process by :func:`agent.llm.embedding.sentence_model`, shared with kg.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from agent.core.errors import BadInputError, ConfigError
from agent.llm.embedding import sentence_model

if TYPE_CHECKING:
    import numpy as np

BATCH_SIZE = 64
SMALL_BATCH = 4  # queries: encoded on one thread

_lock = threading.Lock()
_cache: dict[str, Embedder] = {}


class Embedder:
    """One loaded sentence-transformers model with its tokenizer; thread-safe for encoding."""

    def __init__(self, name: str) -> None:
        self.model = sentence_model(name, "rag.embedding_model")
        self.name = name
        self.max_tokens = int(self.model.max_seq_length or 256)  # the window, including [CLS] and [SEP]
        self.tokenizer = self.model.tokenizer
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ConfigError(f"rag.embedding_model: {name!r} has no fast tokenizer (needed for chunking)")
        from tokenizers import Tokenizer

        # Our own copy for counting: encode() sets truncation on the shared one, which would hide word pieces.
        self._backend = Tokenizer.from_str(backend.to_str())
        self._backend.no_truncation()
        self._backend.no_padding()
        self.special_tokens = len(self._backend.encode("", add_special_tokens=True).ids)
        self._encode_lock = threading.Lock()

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter() or 0)

    @property
    def content_tokens(self) -> int:
        """How many word pieces of text fit the window once the special tokens are added."""
        return self.max_tokens - self.special_tokens

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the word pieces of ``text`` (no special tokens, no truncation)."""
        return list(self._backend.encode(text, add_special_tokens=False).offsets)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces per text, special tokens excluded."""
        return [len(e.ids) for e in self._backend.encode_batch(texts, add_special_tokens=False)]

    def encode(self, texts: list[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with self._encode_lock:  # torch already uses every core; parallel calls would only thrash
            threads = torch.get_num_threads()
            if len(texts) <= SMALL_BATCH and threads > 1:
                # A query is a few milliseconds of work: on a busy machine, waking several OpenMP threads for it
                # costs 10-100x more than the work (measured 2 s vs 50 ms per query on 2 shared cores).
                torch.set_num_threads(1)
            try:
                vectors = self.model.encode(
                    texts,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)


def get_embedder(name: str) -> Embedder:
    """The process-wide embedder for ``name`` (loading takes a second or two; do it once)."""
    if not name.strip():
        raise BadInputError("rag.embedding_model is empty")
    key = name.strip()
    with _lock:
        embedder = _cache.get(key)
        if embedder is None:
            embedder = _cache[key] = Embedder(key)
        return embedder
