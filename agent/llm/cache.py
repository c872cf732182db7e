"""On-disk LLM response cache: fast, deterministic reruns of batches and evaluations.

Keyed by the sha256 of the canonical JSON of the whole request (model, messages, sampling options, tools,
response format...) plus the endpoint's URL, never the API key or headers. Stream flags are left out of the key,
so a streamed answer and a plain one share an entry. Entries live in one sqlite3 file under
``settings.cache_dir / "responses"`` (WAL mode): safe for many asyncio tasks and for several processes at once;
the first stored answer for a key wins, so every later run sees the same one.

Sampled requests (temperature > 0) are also keyed by how many times the same request was already made in the same
run (trace): MAIN-RAG's sampling judge asks the same question m times and needs m different answers, which a
plain cache would collapse into one; with the ordinal, a rerun replays the same m answers in the same order.
Calls without a trace share one ordinal counter per cache, so their replay order is only as deterministic as the
order of the calls.

The cache is generic (JSON text in, JSON text out) so that it does not depend on the LLM layer that uses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import LodestarError

if TYPE_CHECKING:
    from agent.core.config import Settings

_NOT_KEYED = frozenset({"stream", "stream_options"})
_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"


def request_key(endpoint: str, payload: dict[str, Any], ordinal: int | None = None) -> str:
    """sha256 of the canonical request: the payload without stream flags, the endpoint URL and the ordinal."""
    material = {
        "endpoint": endpoint,
        "request": {k: v for k, v in payload.items() if k not in _NOT_KEYED},
        "ordinal": ordinal,
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_sampled(payload: dict[str, Any]) -> bool:
    temperature = payload.get("temperature")
    return isinstance(temperature, (int, float)) and temperature > 0


class ResponseCache:
    """A sqlite3 key -> JSON text store; ``await get(key)`` / ``await put(key, text)`` run off the event loop.

    Storage errors never fail a question: a broken read is a miss, a failed write is counted in ``write_errors``.
    """

    def __init__(self, directory: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = directory / "responses.sqlite3"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LodestarError(f"{self.path}: cannot open the response cache: {exc}") from None
        self._lock = threading.Lock()  # one connection, used from worker threads one at a time
        self._ordinals: weakref.WeakKeyDictionary[object, Counter[str]] = weakref.WeakKeyDictionary()
        self._untraced: Counter[str] = Counter()
        self.hits = 0
        self.misses = 0
        self.write_errors = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> ResponseCache:
        return cls(settings.cache_dir / "responses")

    def key(self, endpoint: str, payload: dict[str, Any], run: object | None = None) -> str:
        """The key for one request made in ``run`` (the trace); call once per request, before any await."""
        if not is_sampled(payload):
            return request_key(endpoint, payload)
        base = request_key(endpoint, payload)
        counter = self._untraced if run is None else self._ordinals.setdefault(run, Counter())
        ordinal = counter[base]
        counter[base] += 1
        return request_key(endpoint, payload, ordinal)

    def _get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO responses (key, value, created) VALUES (?, ?, ?)", (key, value, time.time())
            )

    async def get(self, key: str) -> str | None:
        try:
            value = await asyncio.to_thread(self._get, key)
        except sqlite3.Error:
            value = None
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    async def put(self, key: str, value: str) -> None:
        try:
            await asyncio.to_thread(self._put, key, value)
        except sqlite3.Error:
            self.write_errors += 1

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
