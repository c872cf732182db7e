"""Conversations kept in SQLite (``LODESTAR_HOME/history.sqlite3``) so they can be browsed, resumed and deleted.

Everything written here goes through :func:`agent.core.secrets.redact` first: a key pasted into a question, or echoed
in an endpoint's error message, never reaches the disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.core.secrets import redact
from agent.core.trace import Citation, Usage
from agent.run.conversation import Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    mode TEXT,
    status TEXT NOT NULL DEFAULT 'ok',
    error TEXT,
    citations TEXT NOT NULL DEFAULT '[]',
    usage TEXT,
    latency_s REAL,
    trace_file TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""
TITLE_CHARS = 80

Status = Literal["ok", "error", "cancelled"]


class Conversation(BaseModel):
    id: int
    title: str
    created: float
    updated: float
    messages: int = 0


class Message(BaseModel):
    id: int = 0
    role: Literal["user", "assistant"]
    content: str
    mode: str | None = None
    status: Status = "ok"
    error: str | None = None
    citations: list[Citation] = Field(default_factory=list)
    usage: Usage | None = None
    latency_s: float | None = None
    trace_file: str | None = None
    created: float = 0.0


def make_title(question: str) -> str:
    line = " ".join(redact(question).split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


class HistoryStore:
    """A small synchronous store: every call is a few milliseconds, so the UI calls it directly."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")  # no fsync per message on the UI's path; still crash-safe
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def new_conversation(self, title: str) -> int:
        now = time.time()
        cur = self._db.execute(
            "INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (make_title(title), now, now)
        )
        self._db.commit()
        assert cur.lastrowid is not None
        return cur.lastrowid

    def add(self, conversation_id: int, message: Message) -> int:
        now = time.time()
        citations = [
            c.model_copy(update={"text": redact(c.text), "source": redact(c.source)}) for c in message.citations
        ]
        cur = self._db.execute(
            "INSERT INTO messages (conversation_id, role, content, mode, status, error, citations, usage, latency_s,"
            " trace_file, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                message.role,
                redact(message.content),
                message.mode,
                message.status,
                redact(message.error) if message.error else None,
                json.dumps([c.model_dump() for c in citations], ensure_ascii=False),
                message.usage.model_dump_json() if message.usage else None,
                message.latency_s,
                message.trace_file,
                now,
            ),
        )
        self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        self._db.commit()
        assert cur.lastrowid is not None
        return cur.lastrowid

    def conversations(self, limit: int = 500) -> list[Conversation]:
        rows = self._db.execute(
            "SELECT c.id, c.title, c.created, c.updated, COUNT(m.id) AS messages FROM conversations c"
            " LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id ORDER BY c.updated DESC, c.id DESC"
            " LIMIT ?",
            (limit,),
        ).fetchall()
        return [Conversation(**dict(row)) for row in rows]

    def get(self, conversation_id: int) -> Conversation | None:
        return next((c for c in self.conversations() if c.id == conversation_id), None)

    def messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ).fetchall()
        return [_message(row) for row in rows]

    def delete(self, conversation_id: int) -> None:
        self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        self._db.commit()


def turns(messages: list[Message]) -> list[Turn]:
    """A conversation's question–answer pairs, the context for its next question; answers that failed or were
    cancelled are left out."""
    pairs: list[Turn] = []
    question: str | None = None
    for message in messages:
        if message.role == "user":
            question = message.content
        elif question is not None:
            if message.status == "ok" and message.content.strip():
                pairs.append(Turn(question=question, answer=message.content))
            question = None
    return pairs


def _message(row: sqlite3.Row) -> Message:
    data: dict[str, Any] = dict(row)
    data.pop("conversation_id", None)
    data["citations"] = json.loads(data["citations"] or "[]")
    data["usage"] = Usage.model_validate_json(data["usage"]) if data["usage"] else None
    return Message.model_validate(data)
