"""Ingestion: files -> documents -> chunks -> embeddings -> Chroma, idempotently.

Chunk ids are content hashes (file path, document key, chunk text, chunking settings), and every chunk records its
file's hash. Re-ingesting an unchanged file therefore costs one metadata lookup and adds nothing; a changed file
is re-chunked and diffed by id: new chunks are embedded and added first, kept chunks get fresh offsets, and only
then are the stale ones deleted, so an interrupted ingest never loses what was there.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agent.core.config import Settings
from rag.chunking import Chunker
from rag.embed import Embedder, get_embedder
from rag.loaders import LoadedFile, Skip, discover, file_hash, load_file, read_bytes
from rag.store import Collection, open_collection

EMBED_BATCH = 512  # per encode call: large enough for length-sorted batches, small enough to overlap writes
STOP_SLICE = 32  # chunks embedded between two looks at the stop flag


class IngestInterrupted(Exception):
    """The stop flag was set (Ctrl-C): what is stored stays consistent, unfinished files are redone next time."""


class SkippedFile(BaseModel):
    path: str
    reason: str


class IngestReport(BaseModel):
    """What an ingest did; ``cmd_ingest`` prints it and ``bench/ingest.py`` measures with it."""

    collection: str
    files: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    files_removed: int = Field(0, description="files gone from disk whose chunks --prune deleted")
    skipped: list[SkippedFile] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="malformed JSONL lines, as 'path: line N: why'")
    ignored: int = Field(0, description="files of unsupported types inside the given folders")
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ingested_anything(self) -> bool:
        return self.files > 0


def chunking_signature(settings: Settings) -> str:
    """What the chunks depend on besides the file: a change re-chunks every file on its next ingest."""
    rag = settings.rag
    return f"{rag.embedding_model}|{rag.chunk_tokens}|{rag.chunk_overlap_tokens}|v1"


def make_chunker(settings: Settings, embedder: Embedder) -> Chunker:
    rag = settings.rag
    return Chunker(
        embedder.offsets,
        max_tokens=min(rag.chunk_tokens, embedder.content_tokens),
        overlap=rag.chunk_overlap_tokens,
        count=embedder.count_tokens,
        hard_limit=embedder.content_tokens,
    )


def display_source(path: Path) -> str:
    """The path relative to the current folder when it is inside it (shorter citations), else absolute."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def is_complete(existing: dict[str, dict[str, Any]], digest: str, signature: str) -> bool:
    """Whether the store holds every chunk of this version of the file. Chunks are written in batches that span
    files, so a kill between two batches leaves a file partly stored: each chunk records how many chunks its file
    has, and a file counts as ingested only when that many chunks of it, all of this version, are there."""
    return bool(existing) and all(
        m.get("file_hash") == digest and m.get("sig") == signature and m.get("file_chunks") == len(existing)
        for m in existing.values()
    )


def chunk_id(path: str, doc_key: str, occurrence: int, text: str, signature: str) -> str:
    digest = hashlib.sha256("\0".join((path, doc_key, str(occurrence), signature, text)).encode("utf-8"))
    return digest.hexdigest()[:32]


@dataclass
class _Pending:
    """Chunks waiting for embeddings, and per-file work that must wait until they are stored."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    metadatas: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[list[str], list[dict[str, Any]]]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


def _plan_file(
    loaded: LoadedFile,
    existing: dict[str, dict[str, Any]],
    chunker: Chunker,
    signature: str,
    pending: _Pending,
    report: IngestReport,
) -> None:
    """Chunk one file and diff its chunks against what the store holds for it."""
    path_key = str(loaded.path)
    source = display_source(loaded.path)
    multi = loaded.path.suffix.lower() == ".jsonl"
    wanted: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    for document in loaded.documents:
        occurrences: dict[str, int] = {}
        for chunk in chunker.chunk(document.text):
            occurrence = occurrences.get(chunk.text, 0)
            occurrences[chunk.text] = occurrence + 1
            cid = chunk_id(path_key, document.key, occurrence, chunk.text, signature)
            wanted[cid] = {
                "path": path_key,
                "source": f"{source}#{document.key}" if multi else source,
                "title": document.title[:300],
                "section": chunk.section[:300],
                "doc": document.key,
                "chunk": chunk.index,
                "start": chunk.start,
                "end": chunk.end,
                "file_hash": loaded.file_hash,
                "sig": signature,
            }
            texts[cid] = chunk.text
    for meta in wanted.values():  # the completion record: the file is whole only when all of these are stored
        meta["file_chunks"] = len(wanted)
    new_ids = [i for i in wanted if i not in existing]
    kept_ids = [i for i in wanted if i in existing]
    stale_ids = [i for i in existing if i not in wanted]
    for cid in new_ids:
        pending.ids.append(cid)
        pending.texts.append(texts[cid])
        pending.metadatas.append(wanted[cid])
    if kept_ids:
        pending.updates.append((kept_ids, [wanted[i] for i in kept_ids]))
    pending.deletes.extend(stale_ids)
    report.chunks_added += len(new_ids)
    report.chunks_unchanged += len(kept_ids)
    report.chunks_removed += len(stale_ids)


class _Writer:
    """Embeds batches on the calling thread while the previous batch is written to Chroma on another."""

    def __init__(
        self,
        collection: Collection,
        model: str,
        report: IngestReport,
        on_chunks: Callable[[int], None],
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self.collection = collection
        self.model = model
        self._embedder: Embedder | None = None
        self._chunker: Chunker | None = None
        self.report = report
        self.on_chunks = on_chunks
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chroma-write")
        self._last: Future[None] | None = None

    @property
    def embedder(self) -> Embedder:
        """Loaded on first need: re-ingesting unchanged files never pays for the model."""
        if self._embedder is None:
            self._embedder = get_embedder(self.model)
        return self._embedder

    def chunker(self, settings: Settings) -> Chunker:
        if self._chunker is None:
            self._chunker = make_chunker(settings, self.embedder)
        return self._chunker

    def flush(self, pending: _Pending, *, final: bool = False) -> None:
        while len(pending.ids) >= EMBED_BATCH or (final and pending.ids):
            n = min(EMBED_BATCH, len(pending.ids))
            ids, texts, metas = pending.ids[:n], pending.texts[:n], pending.metadatas[:n]
            del pending.ids[:n], pending.texts[:n], pending.metadatas[:n]
            started = time.perf_counter()
            vectors = self.encode(texts)
            self.report.embed_seconds += time.perf_counter() - started
            self.wait()
            self._last = self._pool.submit(self.collection.add, ids, vectors, texts, metas)
            self.on_chunks(n)

    def encode(self, texts: list[str]) -> Any:
        """Embed in slices, looking at the stop flag between them: Ctrl-C is heard within a slice (well under a
        second), not after a whole batch."""
        import numpy as np

        parts = []
        for i in range(0, len(texts), STOP_SLICE):
            if self.stop.is_set():
                raise IngestInterrupted
            parts.append(self.embedder.encode(texts[i : i + STOP_SLICE]))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def wait(self) -> None:
        if self._last is not None:
            last, self._last = self._last, None
            last.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def prune_missing(paths: list[str], settings: Settings, name: str, report: IngestReport) -> None:
    """Delete the chunks of files under ``paths`` (folders, or files by name) that no longer exist on disk."""
    store = open_collection(settings, name)
    if store is None:
        return
    roots = [Path(p).expanduser().resolve() for p in paths]
    gone = [
        Path(p)
        for p in sorted(store.paths())
        if any(Path(p).is_relative_to(root) for root in roots) and not Path(p).exists()
    ]
    for path in gone:
        ids = list(store.chunks_of(str(path)))
        store.delete(ids)
        report.files_removed += 1
        report.chunks_removed += len(ids)
    if gone:
        store.bump_version()
    # a path given on the command line that is gone, and whose chunks were pruned, is not a skipped file
    pruned_roots = {root for root in roots if any(path.is_relative_to(root) for path in gone)}
    report.skipped = [
        s
        for s in report.skipped
        if not (s.reason == "no such file or folder" and Path(s.path).expanduser().resolve() in pruned_roots)
    ]


def ingest_paths(
    paths: list[str],
    settings: Settings,
    *,
    collection: str | None = None,
    progress: Any = None,
    prune: bool = False,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Ingest files and folders into ``collection``; synchronous (CPU-bound), run it in a worker thread.

    ``prune`` also deletes the chunks of files under ``paths`` that are gone from disk. ``progress``, if given,
    is called as ``progress(event, n)`` with event "files" (total), "file" (one done) or "chunks" (n embedded),
    for the CLI's progress bar. Setting ``stop`` (from another thread) makes it raise :class:`IngestInterrupted`
    within a second; files not completely stored are ingested again on the next run (see :func:`is_complete`).
    """
    started = time.perf_counter()
    notify = progress or (lambda event, n: None)
    walk = discover(paths)
    name = collection or settings.rag.collection
    report = IngestReport(collection=name, ignored=walk.ignored)
    report.skipped.extend(SkippedFile(path=p, reason=r) for p, r in walk.skipped)
    if prune:
        prune_missing(paths, settings, name, report)
    if not walk.files:
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    store = open_collection(settings, name, create=True)
    assert store is not None
    signature = chunking_signature(settings)
    max_mb = settings.rag.max_file_mb
    pending = _Pending()
    writer = _Writer(store, settings.rag.embedding_model, report, lambda n: notify("chunks", n), stop)
    notify("files", len(walk.files))
    changed = False
    try:
        for path in walk.files:
            if writer.stop.is_set():
                raise IngestInterrupted
            try:
                data = read_bytes(path, max_mb)
                digest = file_hash(data)
                existing = store.chunks_of(str(path))
                if is_complete(existing, digest, signature):
                    report.files += 1
                    report.files_unchanged += 1
                    report.chunks_unchanged += len(existing)
                    continue
                loaded = load_file(path, data)
            except Skip as skip:
                report.skipped.append(SkippedFile(path=display_source(path), reason=str(skip)))
                report.problems.extend(f"{display_source(path)}: {p}" for p in skip.problems)
                continue
            finally:
                notify("file", 1)
            report.files += 1
            if existing:
                report.files_changed += 1
            else:
                report.files_new += 1
            report.problems.extend(f"{display_source(path)}: {p}" for p in loaded.problems)
            _plan_file(loaded, existing, writer.chunker(settings), signature, pending, report)
            changed = True
            writer.flush(pending)
        writer.flush(pending, final=True)
        writer.wait()
        for ids, metas in pending.updates:
            store.update_metadata(ids, metas)
        store.delete(pending.deletes)
        if changed:
            store.bump_version()
    finally:
        writer.close()
    report.seconds = round(time.perf_counter() - started, 3)
    report.embed_seconds = round(report.embed_seconds, 3)
    return report
