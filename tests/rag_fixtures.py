"""Shared helpers for the rag tests: scripted MAIN-RAG agents on the fake server, and a tiny corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.config import Settings, load_settings
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from rag.retrieve import RetrievedDoc
from tests.conftest import write_config

JUDGE = "noisy document evaluator"
PREDICTOR = "without repeating the question"
FINAL = "Cite the documents"


def make_docs(n: int) -> list[RetrievedDoc]:
    return [
        RetrievedDoc(
            id=f"chunk-{i}",
            text=f"Fact number {i}: DOC{i}MARK is here.",
            source=f"doc{i}.md",
            title=f"Doc {i}",
            similarity=1.0 - i / 10,
            rank=i + 1,
        )
        for i in range(n)
    ]


def script_predictor(server: FakeOpenAIServer) -> None:
    server.reply(lambda body, i: "a short answer", system_contains=PREDICTOR)


def script_judge_logprobs(server: FakeOpenAIServer, scores: dict[int, float]) -> None:
    """Doc i gets log p(Yes) − log p(No) = scores[i] (Yes at -0.05 and No below, or the reverse)."""
    for i, score in scores.items():
        if score >= 0:
            top = {"Yes": -0.05, "No": -0.05 - score}
            content = "Yes"
        else:
            top = {"No": -0.05, "Yes": -0.05 + score}
            content = "No"
        server.reply(Reply(content=content, top_logprobs=top), system_contains=JUDGE, contains=f"DOC{i}MARK")


def script_final(server: FakeOpenAIServer, text: str = "The answer is here [1].") -> None:
    server.reply(text, system_contains=FINAL)


def requests_with(server: FakeOpenAIServer, system_marker: str) -> list[dict[str, Any]]:
    out = []
    for request in server.chat_requests:
        messages = request.json.get("messages", [])
        if any(m.get("role") == "system" and system_marker in (m.get("content") or "") for m in messages):
            out.append(request.json)
    return out


def user_text(body: dict[str, Any]) -> str:
    return "\n".join(m.get("content") or "" for m in body["messages"] if m.get("role") == "user")


@pytest.fixture
def no_logprobs_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer(supports_logprobs=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def settings_for(server: FakeOpenAIServer, home: Path, extra: str = "") -> Settings:
    return load_settings(write_config(home.parent / "lodestar.toml", server.base_url, extra=extra))


CORPUS = {
    "lighthouse.md": "# Eddystone Lighthouse\n\nThe Eddystone Lighthouse stands on the Eddystone Rocks south of "
    "Plymouth. John Smeaton built the third lighthouse there in 1759 using granite blocks.\n",
    "compass.txt": "The magnetic compass was used for navigation in China by the 11th century. Sailors in Europe "
    "adopted it about a century later.\n",
    "gps.md": "# GPS\n\nThe Global Positioning System is a satellite navigation system owned by the United States "
    "Space Force. It became fully operational in 1995.\n",
}


def write_corpus(folder: Path, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or CORPUS).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def minimal_pdf(lines: list[str], title: str = "") -> bytes:
    """A one-page PDF with ``lines`` of Helvetica text, built by hand (no PDF writer needed)."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for line in lines:
        ops.append(f"({esc(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if title:
        objects.append(b"<< /Title (" + esc(title).encode("latin-1") + b") >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    info = b" /Info %d 0 R" % len(objects) if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)
