"""Every entry point over a table of environment faults: one line on stderr, the right exit code, never
"internal error", never a traceback (issue 15, item 17 and the "must show" table).

Entry points: ask, ingest, kg load, batch, chat and mcp (``mcp tools``; ``--allow-ingest`` for the bad path).
Faults: the home unwritable (a read-only tmpfs), the home a file, a full disk (a tiny tmpfs filled to the brim),
a bad output path the user named, an endpoint that is down. The tmpfs mounts need root (CI runs as root); without
it those rows are skipped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import app
from agent.testing.fake_openai import FakeOpenAIServer
from tests.conftest import write_config

ENTRY_POINTS = ("ask", "ingest", "kg load", "batch", "chat", "mcp")
FAULTS = ("home unwritable", "home a file", "disk full", "bad path", "endpoint down")


def _mount(target: Path, options: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    made: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        _mount(target, options)
        made.append(target)
        return target

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill(folder: Path) -> None:
    """Write until the file system says ENOSPC."""
    with (folder / "filler").open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


@dataclass
class Case:
    argv: list[str]
    code: int
    needle: str  # a word the one line must contain


def _inputs(tmp_path: Path) -> dict[str, Path]:
    doc = tmp_path / "doc.txt"
    doc.write_text("The lodestone is a naturally magnetized piece of magnetite.\n", encoding="utf-8")
    triples = tmp_path / "t.tsv"
    triples.write_text("lodestone\tmade_of\tmagnetite\n", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": 1, "question": "What is a lodestone?"}\n', encoding="utf-8")
    return {"doc": doc, "triples": triples, "questions": questions}


def _argv(entry: str, files: dict[str, Path], out: Path) -> list[str]:
    return {
        "ask": ["ask", "--mode", "direct", "What is a lodestone?"],
        "ingest": ["ingest", str(files["doc"])],
        "kg load": ["kg", "load", str(files["triples"])],
        "batch": ["batch", str(files["questions"]), "-o", str(out), "--mode", "direct"],
        "chat": ["chat"],
        "mcp": ["mcp", "tools"],
    }[entry]


def _bad_path_case(entry: str, files: dict[str, Path], tmp_path: Path) -> Case:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    return {
        "ask": Case(["ask", "--mode", "direct", "--trace", str(folder), "q?"], 2, "folder"),
        "ingest": Case(["ingest", str(tmp_path / "missing.txt")], 2, "nothing could be ingested"),
        "kg load": Case(["kg", "load", str(folder)], 2, "folder"),
        "batch": Case(["batch", str(files["questions"]), "-o", str(folder), "--mode", "direct"], 2, "folder"),
        "chat": Case(["chat"], 2, "terminal"),
        "mcp": Case(["mcp", "--allow-ingest", str(tmp_path / "missing")], 2, "--allow-ingest"),
    }[entry]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_environment_faults_give_one_line_and_the_right_exit_code(
    entry: str,
    fault: str,
    home: Path,
    tmp_path: Path,
    fake_server: FakeOpenAIServer,
    mounts: Callable[[str, str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = _inputs(tmp_path)
    out = tmp_path / "answers.jsonl"
    base_url = fake_server.base_url
    case = Case(_argv(entry, files, out), 0, "")
    if fault == "home unwritable":
        monkeypatch.setenv("LODESTAR_HOME", str(mounts("ro", "ro,size=1m") / "home"))
        case = Case(case.argv, 1, "LODESTAR_HOME")
    elif fault == "home a file":
        home.parent.mkdir(parents=True, exist_ok=True)
        home.write_text("not a folder")
        case = Case(case.argv, 1, "LODESTAR_HOME")
    elif fault == "disk full":
        full = mounts("full", "size=256k")
        fill(full)
        monkeypatch.setenv("LODESTAR_HOME", str(full / "home"))
        case = Case(case.argv, 1, "disk is full")
    elif fault == "bad path":
        case = _bad_path_case(entry, files, tmp_path)
    elif fault == "endpoint down":
        base_url = "http://127.0.0.1:9/v1"  # discard port: nothing listens
        expected = {"ask": 1, "batch": 1, "ingest": 0, "kg load": 0, "chat": 2, "mcp": 2}[entry]
        needle = {"ask": "connection", "batch": "connection", "chat": "terminal", "mcp": "no MCP servers"}
        case = Case(case.argv, expected, needle.get(entry, ""))
    if fault != "endpoint down" and entry == "chat" and case.code == 0:
        case = Case(case.argv, 2, "terminal")  # no TTY under pytest: the one-line refusal of item 16
    write_config(home.parent / "lodestar.toml", base_url, max_retries=0, budget_s=1)

    code = app.main(case.argv)

    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "internal error" not in err and "Traceback" not in err, err
    assert code == case.code, err
    if case.code == 0:
        assert not [line for line in lines if line.startswith("lodestar: error")], err
        return
    errors = [line for line in lines if line.startswith("lodestar: error")]
    assert len(errors) == 1, err
    assert case.needle in errors[0], err


def test_a_full_disk_under_the_trace_is_one_line(settings, fake_server: FakeOpenAIServer, capsys) -> None:
    """The disk fills mid-run: the trace writer names its file."""
    code = app.main(["ask", "--mode", "direct", "--trace", "/dev/full", "What is a lodestone?"])
    err = capsys.readouterr().err
    assert code == 1 and "internal error" not in err
    assert err.count("\n") == 1 and "/dev/full" in err and "disk is full" in err


def test_non_utf8_question_is_bad_input_and_leaves_no_trace(settings, home: Path, capsys) -> None:
    question = b"caf\xff".decode("utf-8", "surrogateescape")  # what Python makes of such argv bytes
    assert app.main(["ask", "--mode", "direct", question]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not UTF-8" in err and "0xff" in err
    assert not list((home / "traces").glob("*.jsonl")) if (home / "traces").exists() else True


def test_batch_blames_the_home_not_its_output_when_a_trace_cannot_be_written(
    settings, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The home passes the start check, then its traces folder is a file: the message names that path."""
    (home / "traces").parent.mkdir(parents=True, exist_ok=True)
    (home / "traces").write_text("a file")
    files = _inputs(tmp_path)
    code = app.main(["batch", str(files["questions"]), "-o", str(tmp_path / "out.jsonl"), "--mode", "direct"])
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert str(home / "traces") in err and "out.jsonl: cannot write" not in err, err
    assert code == 1


def test_batch_into_a_full_disk_names_its_output(settings, fake_server, tmp_path: Path, capsys) -> None:
    files = _inputs(tmp_path)
    code = app.main(["batch", str(files["questions"]), "-o", "/dev/full", "--mode", "direct"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("lodestar: error")]
    assert code == 1 and len(errors) == 1 and "/dev/full" in errors[0] and "disk is full" in errors[0], err
