"""Ingestion into a real embedded Chroma store with real embeddings (tiny corpora, so it stays fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app
from agent.core.config import Settings, load_settings
from rag.embed import get_embedder
from rag.ingest import IngestReport, ingest_paths
from rag.store import open_collection
from tests.rag_fixtures import CORPUS, minimal_pdf, write_corpus


@pytest.fixture
def settings(home: Path) -> Settings:  # no LLM endpoint needed to ingest
    return load_settings(env={"LODESTAR_HOME": str(home)})


def stored(settings: Settings, collection: str = "default") -> dict[str, dict]:
    store = open_collection(settings, collection)
    assert store is not None
    got = store.raw.get(include=["documents", "metadatas"])
    return {i: {"text": d, **m} for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)}


def write_formats(folder: Path) -> Path:
    write_corpus(folder)
    (folder / "page.html").write_text(
        "<html><head><title>Fresnel lens</title><style>.x{color:red}</style><script>var secret = 1;</script>"
        "</head><body><nav><a href='/'>Home</a> Subscribe</nav><h1>Fresnel lens</h1><p>Augustin Fresnel designed a <b>compact</b> lens for lighthouses."
        "</p><div hidden>hidden text</div><p>It was first used in 1823.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "manual.pdf").write_bytes(
        minimal_pdf(["The sextant measures the angle", "between the sun and the horizon."], title="Sextant manual")
    )
    (folder / "notes.jsonl").write_text(
        json.dumps({"id": "n1", "title": "Loran", "text": "LORAN was a hyperbolic radio navigation system."})
        + "\n"
        + "{not json}\n"
        + json.dumps({"title": "no text"})
        + "\n"
        + json.dumps({"text": "The chronometer solved the longitude problem."})
        + "\n",
        encoding="utf-8",
    )
    return folder


def test_all_formats_are_ingested_with_metadata(settings: Settings, tmp_path: Path) -> None:
    folder = write_formats(tmp_path / "docs")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # other types in folders: ignored
    report = ingest_paths([str(folder)], settings)
    assert report.files == 6 and report.files_new == 6 and not report.skipped
    assert report.ignored == 1
    assert report.problems == [
        f"{_rel(folder / 'notes.jsonl')}: line 2: not JSON (Expecting property name enclosed in double quotes)",
        f'{_rel(folder / "notes.jsonl")}: line 3: no "text" string',
    ]
    chunks = stored(settings)
    assert len(chunks) == report.chunks_added == 7  # one small chunk per document
    by_title = {c["title"]: c for c in chunks.values()}
    html = by_title["Fresnel lens"]
    assert "compact lens" in html["text"] and "1823" in html["text"]
    assert "secret" not in html["text"] and "color" not in html["text"] and "hidden text" not in html["text"]
    assert "Subscribe" not in html["text"] and html["text"].startswith("# Fresnel lens")
    assert "sextant measures the angle" in by_title["Sextant manual"]["text"]
    assert by_title["Loran"]["source"].endswith("notes.jsonl#n1")
    assert by_title["Eddystone Lighthouse"]["section"] == "Eddystone Lighthouse"
    for chunk in chunks.values():
        assert {"source", "title", "chunk", "start", "end", "path", "file_hash"} <= set(chunk)
        assert chunk["end"] - chunk["start"] == len(chunk["text"])
    original = CORPUS["compass.txt"]
    compass = next(c for c in chunks.values() if c["source"].endswith("compass.txt"))
    assert original[compass["start"] : compass["end"]] == compass["text"]


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def test_reingest_is_idempotent_and_changes_replace_chunks(settings: Settings, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    first = ingest_paths([str(folder)], settings)
    assert first.chunks_added == 3
    before = stored(settings)
    again = ingest_paths([str(folder)], settings)
    assert (again.chunks_added, again.chunks_removed, again.files_unchanged) == (0, 0, 3)
    assert stored(settings) == before

    (folder / "gps.md").write_text(
        "# GPS\n\nGPS satellites broadcast time signals from atomic clocks.\n", encoding="utf-8"
    )
    changed = ingest_paths([str(folder)], settings)
    assert (changed.files_changed, changed.chunks_added, changed.chunks_removed) == (1, 1, 1)
    after = stored(settings)
    assert len(after) == 3
    gps = [c for c in after.values() if c["source"].endswith("gps.md")]
    assert len(gps) == 1 and "atomic clocks" in gps[0]["text"]
    assert not any("Space Force" in c["text"] for c in after.values())


def test_a_changed_long_file_keeps_its_unchanged_chunks(settings: Settings, tmp_path: Path) -> None:
    sections = [
        f"## Part {i}\n\n" + " ".join(f"Line {i}.{j} about tides and charts." for j in range(30)) for i in range(4)
    ]
    path = tmp_path / "long.md"
    path.write_text("\n\n".join(sections), encoding="utf-8")
    first = ingest_paths([str(path)], settings)
    assert first.chunks_added >= 4
    sections[2] = "## Part 2\n\nThis part was rewritten completely."
    path.write_text("\n\n".join(sections), encoding="utf-8")
    second = ingest_paths([str(path)], settings)
    assert second.chunks_unchanged >= 2 and second.chunks_added >= 1 and second.chunks_removed >= 1
    texts = [c["text"] for c in stored(settings).values()]
    assert any("rewritten completely" in t for t in texts)
    assert not any("Line 2.5 " in t for t in texts)
    metas = sorted(stored(settings).values(), key=lambda c: c["chunk"])
    assert [c["chunk"] for c in metas] == list(range(len(metas)))  # indices refreshed after the change


def test_bad_files_are_skipped_with_reasons(settings: Settings, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\x03binary\x00data" * 50)
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "blank.txt").write_text("   \n\n  ", encoding="utf-8")
    (folder / "big.txt").write_text("word " * 300_000, encoding="utf-8")  # 1.5 MB
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage that is not a pdf")
    (folder / "lines.jsonl").write_text('[1, 2]\n{"text": 5}\n', encoding="utf-8")
    small = settings.model_copy(update={"rag": settings.rag.model_copy(update={"max_file_mb": 1.0})})
    report = ingest_paths([str(folder), str(tmp_path / "missing.md")], small)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["binary.txt"] == "binary file"
    assert reasons["empty.md"] == "empty file"
    assert reasons["blank.txt"] == "empty (no text)"
    assert reasons["big.txt"].startswith("too large (1.4 MB > rag.max_file_mb = 1 MB)")
    assert reasons["broken.pdf"].startswith("unreadable PDF")
    assert reasons["lines.jsonl"] == "no valid lines (2 malformed)"
    assert reasons["missing.md"] == "no such file or folder"
    assert any("lines.jsonl: line 1: not a JSON object" in p for p in report.problems)
    assert report.files == 3 and report.chunks_added == 3  # the rest went on


def test_prune_removes_only_files_gone_from_disk_under_the_given_paths(settings: Settings, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    elsewhere = write_corpus(tmp_path / "other", {"stars.md": "# Stars\n\nPolaris marks the north.\n"})
    ingest_paths([str(folder), str(elsewhere)], settings)
    names = sorted(p.name for p in folder.iterdir())
    (folder / names[0]).unlink()
    plain = ingest_paths([str(folder)], settings)  # without --prune nothing is forgotten
    assert (plain.files_removed, plain.chunks_removed) == (0, 0) and len(stored(settings)) == 4
    (elsewhere / "stars.md").unlink()  # gone too, but not under the path given below: kept
    pruned = ingest_paths([str(folder)], settings, prune=True)
    assert (pruned.files_removed, pruned.chunks_removed, pruned.files_unchanged) == (1, 1, 2)
    sources = sorted(Path(c["path"]).name for c in stored(settings).values())
    assert sources == sorted([*names[1:], "stars.md"])
    # a whole folder that is gone: its chunks are pruned, and it is not reported as a skipped path
    elsewhere.rmdir()
    never = tmp_path / "never-existed"
    gone = ingest_paths([str(elsewhere), str(never)], settings, prune=True)
    assert (gone.files, gone.files_removed) == (0, 1)
    assert [s.path for s in gone.skipped] == [str(never)]
    assert sorted(Path(c["path"]).name for c in stored(settings).values()) == names[1:]


def test_cli_exit_codes(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_corpus(tmp_path / "docs")
    assert app.main(["ingest", str(folder), "--collection", "notes"]) == 0
    out = capsys.readouterr().out
    assert "3 file(s) ingested (3 new" in out and "chunks: 3 added" in out
    assert app.main(["ingest", str(folder), str(tmp_path / "nope.txt"), "--collection", "notes"]) == 0
    out = capsys.readouterr().out
    assert "chunks: 0 added, 3 unchanged, 0 removed" in out and "nope.txt: no such file or folder" in out

    assert app.main(["ingest", str(tmp_path / "nope.txt")]) == 2
    captured = capsys.readouterr()
    assert "no such file or folder" in captured.out and "nothing could be ingested" in captured.err
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert app.main(["ingest", str(tmp_path / "empty.txt")]) == 2
    assert app.main(["ingest", str(folder), "--collection", "bad name!"]) == 2
    assert "invalid collection name" in capsys.readouterr().err
    for doc in folder.iterdir():
        doc.unlink()
    assert app.main(["ingest", str(folder), "--collection", "notes", "--prune"]) == 0  # only pruning is success
    assert "chunks: 0 added, 0 unchanged, 3 removed" in (out := capsys.readouterr().out)
    assert "pruned 3 file(s) no longer on disk" in out


def test_collections_remember_their_embedding_model(settings: Settings, tmp_path: Path) -> None:
    folder = write_corpus(tmp_path / "docs")
    ingest_paths([str(folder)], settings)
    other = settings.model_copy(update={"rag": settings.rag.model_copy(update={"embedding_model": "/some/model"})})
    from agent.core.errors import BadInputError

    with pytest.raises(BadInputError, match="was built with the embedding model"):
        ingest_paths([str(folder)], other)


def test_chunks_fit_the_model_window(settings: Settings, tmp_path: Path) -> None:
    text = "\n\n".join(
        " ".join(f"Paragraph {p} sentence {s} mentions Mercator and rhumb lines." for s in range(40)) for p in range(5)
    )
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")
    report: IngestReport = ingest_paths([str(tmp_path / "long.txt")], settings)
    assert report.chunks_added > 5
    tokenizer = get_embedder(settings.rag.embedding_model).tokenizer
    for chunk in stored(settings).values():
        assert len(tokenizer(chunk["text"])["input_ids"]) <= 256
