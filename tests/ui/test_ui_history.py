"""The conversation store: order, counts, resume data, deletion, and no secret ever written."""

from __future__ import annotations

from pathlib import Path

from agent.core.secrets import register_secret
from agent.core.trace import Citation, Usage
from agent.run.conversation import Turn
from ui.history import TITLE_CHARS, HistoryStore, Message, turns


def test_conversations_newest_first_with_their_messages(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history.sqlite3")
    first = store.new_conversation("Who built H4?")
    store.add(first, Message(role="user", content="Who built H4?", mode="rag"))
    store.add(
        first,
        Message(
            role="assistant",
            content="John Harrison.",
            mode="rag",
            usage=Usage(llm_calls=3),
            citations=[Citation(id="c1", kind="chunk", source="h4.md", text="H4 …")],
            latency_s=1.5,
            trace_file="/t/run.jsonl",
        ),
    )
    second = store.new_conversation("What is a lodestone?")
    store.add(second, Message(role="user", content="What is a lodestone?", mode="direct"))
    assert [(c.id, c.messages) for c in store.conversations()] == [(second, 1), (first, 2)]
    answer = store.messages(first)[1]
    assert answer.content == "John Harrison." and answer.usage == Usage(llm_calls=3)
    assert answer.citations[0].source == "h4.md" and answer.trace_file == "/t/run.jsonl"
    store.close()
    reopened = HistoryStore(tmp_path / "history.sqlite3")  # survives a restart
    assert [m.role for m in reopened.messages(first)] == ["user", "assistant"]


def test_delete_removes_the_messages_too(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    conv = store.new_conversation("q")
    store.add(conv, Message(role="user", content="q"))
    store.delete(conv)
    assert store.conversations() == [] and store.messages(conv) == []


def test_titles_are_one_short_line(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    conv = store.new_conversation("a\nmulti-line   question " + "x" * 200)
    title = store.conversations()[0].title
    assert conv and "\n" not in title and len(title) == TITLE_CHARS and title.endswith("…")


def test_secrets_are_redacted_before_they_reach_the_disk(tmp_path: Path) -> None:
    secret = "my-very-private-token-42"
    register_secret(secret)
    store = HistoryStore(tmp_path / "h.sqlite3")
    conv = store.new_conversation(f"key {secret}?")
    store.add(conv, Message(role="user", content=f"use {secret} and sk-abcdefghijklmnop"))
    store.add(
        conv,
        Message(
            role="assistant",
            content="ok",
            status="error",
            error=f"401 for {secret}",
            citations=[Citation(id="t", kind="tool", source="http", text=f"Bearer {secret}")],
        ),
    )
    store.close()
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes()
        assert b"sk-abcdefghijklmnop" not in path.read_bytes()
    messages = HistoryStore(tmp_path / "h.sqlite3").messages(conv)
    assert messages[0].content == "use *** and ***" and "***" in (messages[1].error or "")


def test_turns_pair_questions_with_their_answers_and_skip_failed_ones() -> None:
    messages = [
        Message(role="user", content="Who built H4?"),
        Message(role="assistant", content="Harrison.", status="ok"),
        Message(role="user", content="When?"),
        Message(role="assistant", content="", status="error", error="endpoint down"),
        Message(role="user", content="When was it built?"),
        Message(role="assistant", content="In 175", status="cancelled"),
        Message(role="user", content="Where is it now?"),
        Message(role="assistant", content="Greenwich.", status="ok"),
        Message(role="user", content="unanswered yet"),
    ]
    assert turns(messages) == [
        Turn(question="Who built H4?", answer="Harrison."),
        Turn(question="Where is it now?", answer="Greenwich."),
    ]
