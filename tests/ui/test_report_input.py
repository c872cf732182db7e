"""``lodestar report`` on bad input, and what the HTML holds before any browser reads it (escaping, the CSP)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import app
from agent.batch.metrics import Scoreboard
from ui.report.builder import build_data, read_answers, render
from ui.report.charts import bins, histogram, percentile
from ui.report.traces import read_trace_summary

EVIL = "</script><script>alert(1)</script><!--"


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = app.main(["report", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path) -> None:
    code, _, err = report(capsys, str(tmp_path / "nope.jsonl"))
    assert code == 2 and err.strip() == f"lodestar: error: {tmp_path / 'nope.jsonl'}: no such file"


def test_malformed_lines_are_reported_by_number(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path) -> None:
    answers = write(tmp_path / "a.jsonl", [{"id": 1, "answer": "x"}, "", "{not json", "[1, 2]"])
    code, _, err = report(capsys, str(answers))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{answers}:3: not valid JSON" in err and "(and 1 more malformed line(s))" in err
    assert "Traceback" not in err and not (tmp_path / "a.html").exists()


def test_three_files_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path) -> None:
    answers = write(tmp_path / "a.jsonl", [{"id": 1}])
    code, _, err = report(capsys, str(answers), str(answers), str(answers))
    assert code == 2 and "give one answers file, or two" in err


def test_missing_and_torn_traces_become_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path) -> None:
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"type": "llm_call", "role": "judge", "prompt_tokens": 3}\n{"type": "llm_ca', encoding="utf-8")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    answers = write(
        tmp_path / "a.jsonl",
        [
            {"id": "m", "answer": "x", "trace_file": str(tmp_path / "gone.jsonl")},
            {"id": "t", "answer": "y", "trace_file": str(torn)},
            {"id": "b", "answer": "z", "trace_file": str(binary)},
            {"id": "n", "answer": "w"},
        ],
    )
    code, out, err = report(capsys, str(answers))
    assert code == 0 and err == "" and out.startswith(f"wrote {tmp_path / 'a.html'}")
    traces = build_data([read_answers(answers)])["traces"]
    assert traces[0] == {"note": f"trace not found: {tmp_path / 'gone.jsonl'}"}
    assert traces[1]["note"] == "1 unreadable line(s) in torn.jsonl (first: line 2)"
    assert traces[1]["llm"] == {"judge": [1, 3, 0, 0.0]}
    assert traces[2]["note"].startswith("trace unreadable:")
    assert traces[3] == {"note": "this answer line names no trace file"}


def test_untrusted_text_cannot_leave_the_data_blob(tmp_path: Path) -> None:
    trace = write(
        tmp_path / "t.jsonl",
        [
            {
                "type": "docs_scored",
                "docs": [{"id": EVIL, "score": 1.0, "title": EVIL}],
                "threshold": 0,
                "n": 0,
                "kept": [EVIL],
                "scoring": EVIL,
            },
            {"type": "kg_step", "depth": 1, "frontier": [EVIL], "kept": [[[EVIL, EVIL, EVIL]]]},
            {"type": "tool_result", "name": EVIL, "ok": True, "output": {"x": EVIL}},
        ],
    )
    answers = write(
        tmp_path / "a.jsonl",
        [
            {
                "id": EVIL,
                "question": EVIL,
                "answer": EVIL,
                "answers": [EVIL],
                "mode": EVIL,
                "em": 0.0,
                "error": None,
                "trace_file": str(trace),
            }
        ],
    )
    html = render([read_answers(answers)])
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the data blob and the page's script
    assert "<!--" not in html and "alert(1)</script>" not in html
    blob = re.search(r'<script type="application/json" id="lodestar-data">(.*?)</script>', html, re.S)
    assert blob is not None
    data = json.loads(blob.group(1))  # the escapes are JSON's own: the page reads back exactly the text
    assert data["rows"][0]["a"] == EVIL and data["traces"][0]["steps"][0]["docs"][0][0] == EVIL
    # the mode name is also written by Python (summary table, select options come from JS): escaped there
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None and "default-src 'none'" in csp.group(1) and "unsafe-inline" not in csp.group(1)


def test_summary_is_the_batch_scoreboard(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "mode": "direct", "answer": "a", "em": 1.0, "f1": 1.0, "accuracy": 1.0, "usage": {"llm_calls": 2}},
        {"id": 2, "mode": "kg", "answer": "b", "em": 0.0, "f1": 0.5, "accuracy": 1.0, "hits_at_1": 0.0},
        {"id": 3, "mode": "kg", "answer": None, "error": "endpoint down", "usage": {"llm_calls": 1}},
    ]
    run = read_answers(write(tmp_path / "a.jsonl", rows))
    board = Scoreboard()
    for row in rows:
        board.add(row)
    assert run.summary() == board.summary()
    html = render([run])
    assert '<td data-run="run" data-mode="overall" data-metric="errors">1</td>' in html
    assert '<td data-run="run" data-mode="kg" data-metric="f1">0.5000</td>' in html


def test_charts() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([], 90) == 0
    assert sum(n for _, _, n in bins([0.1 * i for i in range(100)])) == 100
    assert [n for _, _, n in bins([1, 1, 2, 5], integer=True)] == [2, 1, 0, 0, 1]
    svg = histogram("<b>title</b>", [1, 2, 3], " s")
    assert "<b>" not in svg and "&lt;b&gt;title" in svg and svg.count("<rect") >= 3
    assert "no data" in histogram("empty", [])


def test_gold_matching_by_source_file_and_record(tmp_path: Path) -> None:
    trace = write(
        tmp_path / "t.jsonl",
        [
            {
                "type": "docs_scored",
                "threshold": 0,
                "n": 0,
                "scoring": "logprobs",
                "kept": ["c1"],
                "docs": [
                    {"id": "c1", "score": 1, "source": "corpus/a.md"},
                    {"id": "c2", "score": -1, "source": "data.jsonl#Paris"},
                    {"id": "c3", "score": -2, "source": "corpus/b.md"},
                ],
            }
        ],
    )
    docs = read_trace_summary(trace, ["a.md", "Paris"])["steps"][0]["docs"]
    assert [(d[0], d[4], d[5]) for d in docs] == [("c1", 1, 1), ("c2", 0, 1), ("c3", 0, 0)]
