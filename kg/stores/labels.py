"""An on-disk label index for entity linking: SQLite, normalised labels and aliases -> entities, with a trigram
full-text index over the distinct keys for fuzzy matches. Lookups are indexed (never a scan of every name):
exact keys through the primary key, fuzzy candidates through FTS5 (best 200 by rank), then rapidfuzz over those.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from kg.store import normalize

LABELS_FILE = "labels.sqlite"
FUZZY_CANDIDATES = 200
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keyset(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS labels(
    key TEXT NOT NULL, node TEXT NOT NULL, label TEXT NOT NULL, preferred INTEGER NOT NULL,
    PRIMARY KEY(key, node)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_node ON labels(node, preferred);
CREATE VIRTUAL TABLE IF NOT EXISTS keys_fts USING fts5(key, content='keyset', content_rowid='id',
    tokenize='trigram');
CREATE TRIGGER IF NOT EXISTS keyset_ai AFTER INSERT ON keyset BEGIN
    INSERT INTO keys_fts(rowid, key) VALUES (new.id, new.key);
END;
"""


class LabelIndex:
    """One SQLite file; safe to call from worker threads (one connection, serialised by a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ------------------------------------------------------------------------------------------------

    def add(self, rows: Iterable[tuple[str, str, bool]]) -> int:
        """(node, label, preferred) rows; returns how many (key, node) pairs were new."""
        with self._lock:
            db = self._db
            before = db.total_changes
            db.execute("BEGIN")
            try:
                for node, label, preferred in rows:
                    key = normalize(label)
                    if not key:
                        continue
                    db.execute("INSERT OR IGNORE INTO keyset(key) VALUES (?)", (key,))
                    db.execute(
                        "INSERT OR IGNORE INTO labels(key, node, label, preferred) VALUES (?, ?, ?, ?)",
                        (key, node, label, int(preferred)),
                    )
                added = db.total_changes - before
                db.execute("INSERT OR REPLACE INTO meta VALUES ('revision', ?)", (uuid.uuid4().hex,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return added

    # -- reading ------------------------------------------------------------------------------------------------

    def revision(self) -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return row[0] if row else "empty"

    def lookup_many(self, keys: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        unique = list(dict.fromkeys(k for k in keys if k))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, node in self._db.execute(
                    f"SELECT key, node FROM labels WHERE key IN ({marks}) ORDER BY key, preferred DESC, node", chunk
                ):
                    found.setdefault(key, []).append(node)
        return found

    def name(self, node: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT label FROM labels WHERE node = ? AND preferred = 1 LIMIT 1", (node,)
            ).fetchone()
        return row[0] if row else None

    def aliases(self, node: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT label FROM labels WHERE node = ? AND preferred = 0", (node,)).fetchall()
        return sorted({r[0] for r in rows})

    def candidates(self, text: str) -> list[str]:
        """Keys sharing trigrams with ``text``, most shared first (FTS5 rank), at most FUZZY_CANDIDATES."""
        grams = {text[i : i + 3] for i in range(len(text) - 2)}
        grams = {g for g in grams if '"' not in g}
        if not grams:
            return []
        query = " OR ".join(f'"{g}"' for g in sorted(grams))
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM keys_fts WHERE keys_fts MATCH ? ORDER BY rank LIMIT ?", (query, FUZZY_CANDIDATES)
            ).fetchall()
        return [r[0] for r in rows]

    def fuzzy(self, text: str, cutoff: float, limit: int, *, scorer: str = "ratio") -> list[tuple[str, float]]:
        from rapidfuzz import fuzz, process

        candidates = self.candidates(text)
        score = fuzz.WRatio if scorer == "wratio" else fuzz.ratio
        best = process.extract(text, candidates, scorer=score, score_cutoff=cutoff, limit=limit)
        return [(key, float(s)) for key, s, _ in best]

    def count(self) -> tuple[int, int]:
        """(entities with a label, aliases)."""
        with self._lock:
            entities = self._db.execute("SELECT COUNT(DISTINCT node) FROM labels").fetchone()[0]
            aliases = self._db.execute("SELECT COUNT(*) FROM labels WHERE preferred = 0").fetchone()[0]
        return int(entities), int(aliases)

    def named(self, limit: int) -> list[tuple[str, str]] | None:
        """(node, preferred label) of every labelled entity, or None when there are more than ``limit``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node, MIN(label) FROM labels WHERE preferred = 1 GROUP BY node LIMIT ?", (limit + 1,)
            ).fetchall()
        return None if len(rows) > limit else [(n, lab) for n, lab in rows]
