"""The Chroma store: embedded (PersistentClient under ``home/chroma``) or a Chroma server (``rag.chroma_host``).

We always pass our own embeddings, so collections are created without an embedding function and Chroma never
downloads one. Each collection records the embedding model it was built with (vectors of two models must never
mix) and a version token that changes on every ingest, which invalidates per-process caches such as BM25.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from agent.core.config import Settings
from agent.core.errors import BadInputError, LodestarError, one_line

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

MODEL_KEY = "lodestar_embedding_model"
VERSION_KEY = "lodestar_version"
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,510})[A-Za-z0-9]$")
_clients: dict[tuple[str, ...], Any] = {}
_lock = threading.Lock()


class StoreError(LodestarError):
    """The vector store failed (server unreachable, corrupt files)."""


def check_collection_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise BadInputError(
            f"invalid collection name {name!r}: use 3+ characters of letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def client_key(settings: Settings) -> tuple[str, ...]:
    rag = settings.rag
    if rag.chroma_host:
        return ("http", rag.chroma_host, str(rag.chroma_port))
    return ("path", str((settings.home / "chroma").resolve()))


def get_client(settings: Settings) -> Any:
    """One Chroma client per location per process (Chroma dislikes two clients on one path)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    key = client_key(settings)
    with _lock:
        client = _clients.get(key)
        if client is not None:
            return client
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if key[0] == "http":
                client = chromadb.HttpClient(host=key[1], port=int(key[2]), settings=chroma_settings)
            else:
                os.makedirs(key[1], exist_ok=True)
                client = chromadb.PersistentClient(path=key[1], settings=chroma_settings)
        except Exception as exc:  # connection refused, bad files: one line for the user
            where = f"{key[1]}:{key[2]}" if key[0] == "http" else key[1]
            raise StoreError(f"cannot open the Chroma store at {where}: {one_line(str(exc), 200)}") from None
        _clients[key] = client
        return client


def _is_not_found(exc: Exception) -> bool:
    return type(exc).__name__ in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(exc)


class Collection:
    """A thin wrapper over one Chroma collection with the operations ingest and retrieval need."""

    def __init__(self, raw: Any, name: str) -> None:
        self.raw = raw
        self.name = name

    # -- metadata -----------------------------------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.raw.metadata or {})

    @property
    def embedding_model(self) -> str | None:
        value = self.metadata.get(MODEL_KEY)
        return str(value) if value else None

    @property
    def version(self) -> str:
        return str(self.metadata.get(VERSION_KEY, ""))

    def bump_version(self) -> None:
        metadata = {k: v for k, v in self.metadata.items() if not k.startswith("hnsw:")}
        metadata[VERSION_KEY] = uuid.uuid4().hex
        self.raw.modify(metadata=metadata)

    def count(self) -> int:
        return int(self.raw.count())

    # -- reads --------------------------------------------------------------------------------------------------

    def chunks_of(self, path: str) -> dict[str, dict[str, Any]]:
        """id -> metadata of every chunk ingested from the file at ``path``."""
        got = self.raw.get(where={"path": path}, include=["metadatas"])
        return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)}

    def paths(self, page: int = 5000) -> set[str]:
        """Every file path that has chunks in the collection."""
        found: set[str] = set()
        offset = 0
        while True:
            got = self.raw.get(include=["metadatas"], limit=page, offset=offset)
            metas = got["metadatas"] or []
            found.update(str(m["path"]) for m in metas if m and m.get("path"))
            if len(got["ids"]) < page:
                return found
            offset += len(got["ids"])

    def get(self, ids: Sequence[str], *, embeddings: bool = False) -> dict[str, dict[str, Any]]:
        """id -> {"text", "metadata", "embedding"?} for the given ids (unknown ids are left out)."""
        if not ids:
            return {}
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        got = self.raw.get(ids=list(ids), include=include)
        out: dict[str, dict[str, Any]] = {}
        vectors = got.get("embeddings") if embeddings else None
        for n, chunk_id in enumerate(got["ids"]):
            out[chunk_id] = {
                "text": (got["documents"] or [""])[n] or "",
                "metadata": dict((got["metadatas"] or [{}])[n] or {}),
                **({"embedding": vectors[n]} if vectors is not None else {}),
            }
        return out

    def iter_texts(self, page: int = 5000) -> Iterator[tuple[list[str], list[str]]]:
        """All (ids, texts) in pages, for building the BM25 index."""
        offset = 0
        while True:
            got = self.raw.get(include=["documents"], limit=page, offset=offset)
            ids = list(got["ids"])
            if not ids:
                return
            yield ids, [d or "" for d in got["documents"]]
            if len(ids) < page:
                return
            offset += len(ids)

    def query(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``k`` nearest chunks, best first."""
        got = self.raw.query(query_embeddings=[list(map(float, vector))], n_results=k, include=["distances"])
        ids = got["ids"][0] if got["ids"] else []
        distances = got["distances"][0] if got.get("distances") else [1.0] * len(ids)
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=False)]

    # -- writes -------------------------------------------------------------------------------------------------

    def batch_size(self, client: Any) -> int:
        try:
            return max(1, min(int(client.get_max_batch_size()), 5000))
        except Exception:
            return 1000

    def add(
        self, ids: list[str], vectors: Any, texts: list[str], metadatas: list[dict[str, Any]], batch: int = 1000
    ) -> None:
        for i in range(0, len(ids), batch):
            self.raw.upsert(
                ids=ids[i : i + batch],
                embeddings=vectors[i : i + batch],
                documents=texts[i : i + batch],
                metadatas=metadatas[i : i + batch],
            )

    def update_metadata(self, ids: list[str], metadatas: list[dict[str, Any]], batch: int = 1000) -> None:
        for i in range(0, len(ids), batch):
            self.raw.update(ids=ids[i : i + batch], metadatas=metadatas[i : i + batch])

    def delete(self, ids: list[str], batch: int = 1000) -> None:
        for i in range(0, len(ids), batch):
            self.raw.delete(ids=ids[i : i + batch])


def open_collection(
    settings: Settings, name: str | None = None, *, create: bool = False, embedding_model: str | None = None
) -> Collection | None:
    """The collection ``name`` (default: ``rag.collection``); None when missing and ``create`` is False.

    With ``create``, a missing collection is made (cosine space) and stamped with ``embedding_model``; an existing
    one built with another model is refused, since its vectors are not comparable.
    """
    name = check_collection_name(name or settings.rag.collection)
    client = get_client(settings)
    model = embedding_model or settings.rag.embedding_model
    try:
        if create:
            raw = client.get_or_create_collection(
                name=name,
                metadata={"hnsw:space": "cosine", MODEL_KEY: model, VERSION_KEY: uuid.uuid4().hex},
                embedding_function=None,
            )
        else:
            raw = client.get_collection(name=name, embedding_function=None)
    except Exception as exc:
        if not create and _is_not_found(exc):
            return None
        raise StoreError(f"Chroma: cannot open collection {name!r}: {one_line(str(exc), 200)}") from None
    collection = Collection(raw, name)
    built_with = collection.embedding_model
    if built_with and built_with != model:
        raise BadInputError(
            f"collection {name!r} was built with the embedding model {built_with!r} but rag.embedding_model is "
            f"{model!r}: use another collection or set the model back"
        )
    return collection


def reset_clients() -> None:
    """Forget cached clients (tests that start and stop Chroma servers)."""
    with _lock:
        _clients.clear()
