"""Ingest under faults (issue 15 items 1, 2, 22): a partly stored file is completed on the next run, one bad file
is skipped and reported while the rest is stored, and a stop request (Ctrl-C) ends the ingest within a second."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from agent.core.config import Settings, load_settings
from rag import ingest as ingest_module
from rag.ingest import IngestInterrupted, ingest_paths
from rag.store import open_collection

SENTENCE = "The lodestone is a naturally magnetized piece of magnetite that sailors hung on a thread. "


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(env={"LODESTAR_HOME": str(home)})


def long_text(paragraphs: int) -> str:
    return "\n\n".join(f"Paragraph {i}. " + SENTENCE * 12 for i in range(paragraphs))


def test_a_partly_stored_file_is_completed_on_the_next_run(settings: Settings, tmp_path: Path) -> None:
    """A kill between two write batches leaves some of a file's chunks: the re-run must not call it unchanged."""
    doc = tmp_path / "big.txt"
    doc.write_text(long_text(8), encoding="utf-8")
    first = ingest_paths([str(doc)], settings)
    total = first.chunks_added
    assert total >= 6
    store = open_collection(settings)
    assert store is not None
    ids = sorted(store.chunks_of(str(doc.resolve())))
    store.delete(ids[: total - 3])  # the state a kill -9 between batches leaves: 3 of the file's chunks stored

    again = ingest_paths([str(doc)], settings)

    assert again.files_unchanged == 0 and again.chunks_added == total - 3
    assert len(store.chunks_of(str(doc.resolve()))) == total
    third = ingest_paths([str(doc)], settings)  # and now it is complete: unchanged
    assert third.files_unchanged == 1 and third.chunks_added == 0


def test_one_bad_file_is_skipped_and_the_others_are_stored(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Polaris is the North Star.", encoding="utf-8")
    os.symlink("loop.txt", folder / "loop.txt")  # a link to itself
    (folder / "deep.html").write_text("<div>" * 5000 + "deep text" + "</div>" * 5000, encoding="utf-8")
    os.close(os.open(os.fsencode(folder) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as fh:
        fh.write(b"Latin-1 named file.")

    report = ingest_paths([str(folder)], settings)

    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons.get("loop.txt") == "symlink loop", reasons
    assert any("not UTF-8" in r for r in reasons.values()), reasons
    assert report.files == 2  # good.txt and deep.html (its text found without recursion)
    store = open_collection(settings)
    assert store is not None
    texts = [store.get([i])[i]["text"] for i in store.chunks_of(str((folder / "deep.html").resolve()))]
    assert texts == ["deep text"]
    assert store.chunks_of(str((folder / "good.txt").resolve()))


def test_a_symlink_loop_named_on_the_command_line_is_reported(settings: Settings, tmp_path: Path) -> None:
    os.symlink("self.txt", tmp_path / "self.txt")
    report = ingest_paths([str(tmp_path / "self.txt")], settings)
    assert [s.reason for s in report.skipped] == ["symlink loop"]


def test_stop_ends_the_ingest_within_a_second_and_the_rerun_completes_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "EMBED_BATCH", 8)  # several write batches from a small corpus
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"d{i}.txt").write_text(long_text(6) + f" File {i}.", encoding="utf-8")
    stop = threading.Event()
    stopped_at: list[float] = []

    def progress(event: str, n: int) -> None:
        if event == "chunks" and not stop.is_set():
            stop.set()
            stopped_at.append(time.perf_counter())

    with pytest.raises(IngestInterrupted):
        ingest_paths([str(folder)], settings, progress=progress, stop=stop)
    assert time.perf_counter() - stopped_at[0] < 1.5
    store = open_collection(settings)
    assert store is not None
    partial = store.count()

    rerun = ingest_paths([str(folder)], settings)
    assert rerun.files == 3 and rerun.files_unchanged < 3
    final = store.count()
    assert final > partial and ingest_paths([str(folder)], settings).files_unchanged == 3


def test_ctrl_c_in_cmd_ingest_sets_the_stop_flag(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    """The CLI's handler is cancelled on Ctrl-C: the worker thread must hear it, not run to the end."""
    from rag import cli

    seen: dict[str, threading.Event] = {}
    entered = threading.Event()

    def fake_ingest(paths, settings, *, stop, **kwargs):
        seen["stop"] = stop
        entered.set()
        stop.wait(10)
        raise IngestInterrupted

    monkeypatch.setattr(cli, "ingest_paths", fake_ingest)

    async def go() -> float:
        args = type("A", (), {"collection": None, "paths": ["x"], "prune": False})()
        task = asyncio.create_task(cli.cmd_ingest(args, settings))
        await asyncio.to_thread(entered.wait, 10)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - started

    assert asyncio.run(go()) < 1.0
    assert seen["stop"].is_set()
