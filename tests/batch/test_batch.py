"""``lodestar batch`` end to end over the fake server: input problems, metrics, storms, crashes and resume.

The CLI runs through ``app.main`` in-process, or as ``python app.py`` in a subprocess where a real kill is needed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import app
from agent.batch.runner import read_questions, trace_name
from agent.core.config import Settings
from agent.core.errors import ModelOutputError
from agent.core.trace import Answer, Citation, Trace, read_trace
from agent.llm.hub import LLMHub
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.conftest import REPO, unavailable_mode, write_config


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run the CLI; return (exit code, the summary line parsed, stderr)."""
    code = app.main(["batch", *args])
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("{")]
    return code, (json.loads(lines[-1]) if lines else None), captured.err


def numbered(n: int) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "question": f"Question number {i}?", "answers": ["OK"]} for i in range(n)]


def assert_one_line_per_id(out: Path, ids: list[Any]) -> list[dict[str, Any]]:
    lines = read_out(out)
    written = [line["id"] for line in lines]
    assert len(written) == len(set(written)), "an id was written twice"
    assert sorted(written, key=str) == sorted(ids, key=str)
    return lines


# -- metrics on a hand-made fixture ------------------------------------------------------------------------------


async def fake_kg(question: str, hub: LLMHub, trace: Trace, on_delta: Any) -> Answer:
    """Stands in for kg mode (built elsewhere): one explorer call, one triple cited."""
    completion = await hub.llm("explorer", trace).complete([{"role": "user", "content": question}])
    return Answer(text=completion.text, citations=[Citation(id="t1", kind="triple", source="kg", text="(a, r, b)")])


def test_metrics_equal_hand_computed_values(
    use_mode,
    settings: Settings,
    fake_server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_mode("kg", fake_kg)
    fake_server.reply("Paris.", last_user_contains="France")
    fake_server.reply("William Shakespeare wrote it", last_user_contains="Hamlet")
    fake_server.reply("In 1969", last_user_contains="moon")
    fake_server.reply("Francis Ford Coppola, Mario Puzo", last_user_contains="Godfather")
    fake_server.reply("Mario Puzo and Francis Ford Coppola", last_user_contains="novel")
    write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "d1", "question": "Capital of France?", "answers": ["Paris"]},
            {"id": "d2", "question": "Who wrote Hamlet?", "answers": ["Shakespeare", "William Shakespeare"]},
            {"id": "d3", "question": "Year of the moon landing?", "answers": ["1968"]},
            {"id": "d4", "question": "Anything without gold?"},
            {"id": "k1", "question": "Who directed The Godfather?", "answers": ["Francis Ford Coppola"], "mode": "kg"},
            {
                "id": "k2",
                "question": "Who directed the film of the novel?",
                "answers": ["Francis Ford Coppola"],
                "mode": "kg",
            },
        ],
    )
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct")
    assert code == 0 and summary is not None
    lines = {line["id"]: line for line in read_out(tmp_path / "out.jsonl")}
    # d1: "paris" == "paris"                                   -> EM 1, F1 1, acc 1
    # d2: [william shakespeare wrote it] vs "william shakespeare": p 2/4, r 1 -> F1 2/3; contained -> acc 1; EM 0
    # d3: "in 1969" vs "1968"                                  -> 0, 0, 0
    # k1: [francis ford coppola mario puzo] vs 3 tokens: p 3/5, r 1 -> F1 0.75; acc 1; first entity matches -> H@1 1
    # k2: 6 tokens, 3 shared: p 1/2, r 1 -> F1 2/3; acc 1; first entity "Mario Puzo" -> H@1 0
    assert (lines["d1"]["em"], lines["d1"]["f1"], lines["d1"]["accuracy"]) == (1.0, 1.0, 1.0)
    assert lines["d2"]["em"] == 0.0 and lines["d2"]["f1"] == pytest.approx(2 / 3) and lines["d2"]["accuracy"] == 1.0
    assert (lines["d3"]["em"], lines["d3"]["f1"], lines["d3"]["accuracy"]) == (0.0, 0.0, 0.0)
    assert "em" not in lines["d4"] and "hits_at_1" not in lines["d1"]
    assert lines["k1"]["f1"] == pytest.approx(0.75) and lines["k1"]["hits_at_1"] == 1.0
    assert lines["k2"]["f1"] == pytest.approx(2 / 3) and lines["k2"]["hits_at_1"] == 0.0
    assert lines["k1"]["citations"] == [
        {"id": "t1", "kind": "triple", "source": "kg", "text": "(a, r, b)", "quote": ""}
    ]
    # overall over the 5 scored lines: EM 1/5; F1 (1 + 2/3 + 0 + 3/4 + 2/3) / 5 = 0.61667; acc 4/5; H@1 1/2 (kg only)
    assert summary["total"] == 6 and summary["answered"] == 6 and summary["errors"] == 0
    assert summary["scored"] == 5
    assert summary["em"] == 0.2 and summary["f1"] == 0.6167 and summary["accuracy"] == 0.8
    assert summary["hits_at_1"] == 0.5
    assert summary["llm_calls"] == 6 and summary["skipped_malformed"] == 0
    assert summary["prompt_tokens"] == sum(line["usage"]["prompt_tokens"] for line in lines.values())
    direct, kg = summary["by_mode"]["direct"], summary["by_mode"]["kg"]
    # direct: EM 1/3, F1 (1 + 2/3 + 0) / 3 = 0.5556, acc 2/3;  kg: EM 0, F1 (3/4 + 2/3) / 2 = 0.7083, acc 1
    assert (direct["total"], direct["em"], direct["f1"], direct["accuracy"]) == (4, 0.3333, 0.5556, 0.6667)
    assert direct["hits_at_1"] is None
    assert (kg["total"], kg["em"], kg["f1"], kg["accuracy"], kg["hits_at_1"]) == (2, 0.0, 0.7083, 1.0, 0.5)


# -- input problems ----------------------------------------------------------------------------------------------

MESSY = [
    {"question": "Fine question one?"},  # line 1: id "line-1", since line 6 wrote 1 as its id
    "not json at all",  # 2
    "[1, 2]",  # 3: not an object
    {"question": "   "},  # 4: empty
    {"question": "Gold of the wrong type?", "answers": "Paris"},  # 5
    {"id": 1, "question": "Same id as line 1's number"},  # 6: kept, the user's own id (issue 15, item 4)
    {"question": "Unknown mode?", "mode": "psychic"},  # 7
    "",  # 8: blank, not a question
    {"id": "b", "question": "Fine question two?", "extra": "ignored"},  # 9
]


def test_malformed_lines_are_reported_skipped_and_counted(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", MESSY)
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct")
    assert code == 0 and summary is not None
    reported = [line for line in err.splitlines() if "skipped" in line]
    assert [line.split(":")[2] for line in reported] == ["2", "3", "4", "5", "7"]
    assert "answers" in err and "psychic" in err
    assert summary["skipped_malformed"] == 5 and summary["duplicates"] == 0 and summary["total"] == 3
    assert_one_line_per_id(tmp_path / "out.jsonl", ["line-1", 1, "b"])


def test_strict_fails_on_the_first_problem_before_answering_anything(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", MESSY)
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--strict")
    assert code == 2 and summary is None
    assert "in.jsonl:2: not valid JSON" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists() and fake_server.chat_requests == []


def test_bad_invocations_exit_2_and_touch_nothing(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = batch(capsys, "missing.jsonl", "-o", "out.jsonl")
    assert code == 2 and "missing.jsonl: no such file" in err
    write_jsonl(tmp_path / "in.jsonl", numbered(2))
    (tmp_path / "out.jsonl").write_text('{"id": "old"}\n', encoding="utf-8")
    code, _, err = batch(capsys, "in.jsonl", "-o", "out.jsonl")
    assert code == 2 and "--resume" in err
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == '{"id": "old"}\n'
    code, _, err = batch(capsys, "in.jsonl", "-o", "new.jsonl", "--concurrency", "0")
    assert code == 2 and "--concurrency" in err
    assert fake_server.chat_requests == []


def test_ids_default_to_line_numbers_and_compare_as_text(tmp_path: Path) -> None:
    """An implicit id never collides with one the user wrote (issue 15, item 4): line 1 has no id, line 2 says
    "1" (as text, the same id as the number 1), so line 1 becomes ``line-1`` and nothing is dropped."""
    path = write_jsonl(tmp_path / "in.jsonl", [{"question": "a?"}, {"id": "1", "question": "b?"}, {"question": "c?"}])
    found = read_questions(path, "direct")
    assert [item.id for item in found.items] == ["line-1", "1", 3]
    assert found.duplicates == []
    path = write_jsonl(tmp_path / "dup.jsonl", [{"id": 1, "question": "a?"}, {"id": "1", "question": "b?"}])
    assert read_questions(path, "direct").duplicates == [(2, "duplicate id '1' (first on line 1)")]
    assert trace_name("a/b c") != trace_name("a_b_c") and "/" not in trace_name("../x")


# -- per-question failures ---------------------------------------------------------------------------------------


async def _broken(question: str, hub: LLMHub, trace: Trace, on_delta: Any) -> Answer:
    raise RuntimeError("a bug in this mode")


async def _unparsable(question: str, hub: LLMHub, trace: Trace, on_delta: Any) -> Answer:
    await hub.llm("caller", trace).complete([{"role": "user", "content": question}])
    raise ModelOutputError("the model gave no valid JSON")


def test_an_unreachable_endpoint_fails_the_batch_but_keeps_every_line(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nobody listens there
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "in.jsonl", numbered(3))
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct")
    assert code == 1 and summary is not None and (summary["answered"], summary["errors"]) == (0, 3)
    errors = [line for line in err.splitlines() if line.startswith("lodestar: error:")]
    assert len(errors) == 1 and "connection refused" in errors[0] and "Traceback" not in err
    assert all(
        "connection refused" in line["error"]
        for line in assert_one_line_per_id(tmp_path / "out.jsonl", [f"q{i}" for i in range(3)])
    )


def test_unavailable_or_failing_modes_become_error_lines(
    use_mode,
    settings: Settings,
    fake_server: FakeOpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_mode("rag", unavailable_mode)
    use_mode("tools", _broken)
    use_mode("kg", _unparsable)
    write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "r", "question": "Via rag?", "mode": "rag", "answers": ["x"]},
            {"id": "t", "question": "Via tools?", "mode": "tools"},
            {"id": "k", "question": "Via kg?", "mode": "kg"},
            {"id": "d", "question": "Direct?", "mode": "direct"},
        ],
    )
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl")
    assert code == 0 and summary is not None and "Traceback" not in err
    lines = {line["id"]: line for line in read_out(tmp_path / "out.jsonl")}
    assert "not available here" in lines["r"]["error"]
    assert lines["r"]["answer"] is None and "em" not in lines["r"]  # an error is not a wrong answer
    assert lines["t"]["error"] == "internal error: RuntimeError: a bug in this mode"
    assert lines["k"]["error"] == "the model gave no valid JSON"
    assert lines["k"]["usage"]["llm_calls"] == 1  # what the failed question cost is still reported
    assert "error" not in lines["d"] and lines["d"]["answer"] == "OK"
    assert summary["errors"] == 3 and summary["answered"] == 1 and summary["em"] is None


def test_storm_of_500s_and_429s_loses_no_question(
    home: Path, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path / "lodestar.toml", fake_server.base_url, max_retries=1, budget_s=5.0, max_concurrency=8)
    fake_server.fail_randomly(0.2, (500, 429), seed=11)
    ids = [f"q{i}" for i in range(200)]
    write_jsonl(tmp_path / "in.jsonl", numbered(200))
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--concurrency", "16")
    assert code == 0 and summary is not None
    lines = assert_one_line_per_id(tmp_path / "out.jsonl", ids)
    failed = [line for line in lines if "error" in line]
    answered = [line for line in lines if "error" not in line]
    assert all(line["answer"] == "OK" and line["em"] == 1.0 for line in answered)
    assert all("HTTP 500" in line["error"] or "HTTP 429" in line["error"] for line in failed)
    assert failed, "with one retry, some questions should have exhausted it (p ~ 0.04 each)"
    assert len(answered) > 150
    assert (summary["answered"], summary["errors"], summary["total"]) == (len(answered), len(failed), 200)
    assert sum(line["usage"]["retries"] for line in lines) > 0
    assert fake_server.max_in_flight <= 8  # the endpoint's own limit holds under a wider batch


def test_questions_run_concurrently_within_the_bound(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.latency = 0.1
    write_jsonl(tmp_path / "in.jsonl", numbered(16))
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--concurrency", "4")
    assert code == 0 and summary is not None and summary["answered"] == 16
    assert 2 <= fake_server.max_in_flight <= 4  # questions overlap, and no more than --concurrency of them
    assert "16/16" in err and "q/s" in err and "0 errors" in err  # the progress bar (final state when not a tty)


# -- traces, cache, limit -----------------------------------------------------------------------------------------


def test_every_output_line_names_its_trace(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", numbered(3))
    code, _, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct")
    assert code == 0
    for line in read_out(tmp_path / "out.jsonl"):
        path = Path(line["trace_file"])
        assert path.is_file() and path.parent.parent == settings.traces_dir.resolve()
        assert path.parent.name.startswith("batch-out-") and path.name == f"{line['id']}.jsonl"
        events = read_trace(path)
        assert [e.type for e in events] == ["run_start", "llm_call", "answer", "run_end"]
        assert events[0].question == line["question"]


def test_cached_rerun_asks_nothing_and_gives_the_same_answers(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.reply(lambda body, i: f"answer {i}")  # a server that never says the same thing twice
    write_jsonl(tmp_path / "in.jsonl", numbered(5))
    code, first, _ = batch(capsys, "in.jsonl", "-o", "one.jsonl", "--mode", "direct", "--cache")
    asked = len(fake_server.chat_requests)
    code2, second, _ = batch(capsys, "in.jsonl", "-o", "two.jsonl", "--mode", "direct", "--cache")
    assert code == code2 == 0 and first is not None and second is not None
    assert asked == 5 and len(fake_server.chat_requests) == 5
    answers = {line["id"]: line["answer"] for line in read_out(tmp_path / "one.jsonl")}
    assert {line["id"]: line["answer"] for line in read_out(tmp_path / "two.jsonl")} == answers
    assert first["cache_hits"] == 0 and second["cache_hits"] == 5 and second["llm_calls"] == 5
    hit = [e for e in read_trace(Path(read_out(tmp_path / "two.jsonl")[0]["trace_file"])) if e.type == "llm_call"]
    assert hit[0].cached is True


def test_limit_then_resume_answers_in_chunks(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "in.jsonl", numbered(7))
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--limit", "3")
    assert code == 0 and summary is not None and (summary["total"], summary["remaining"]) == (3, 4)
    assert_one_line_per_id(tmp_path / "out.jsonl", ["q0", "q1", "q2"])  # the first K in input order
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--resume", "--limit", "3")
    assert summary is not None and (summary["resumed"], summary["total"], summary["remaining"]) == (3, 6, 1)
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--resume")
    assert summary is not None and (summary["answered"], summary["remaining"], summary["em"]) == (7, 0, 1.0)
    assert len(fake_server.chat_requests) == 7
    assert_one_line_per_id(tmp_path / "out.jsonl", [f"q{i}" for i in range(7)])


# -- crashes and resume ------------------------------------------------------------------------------------------


def test_resume_drops_a_torn_line_and_retries_failed_questions(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.reply(Reply.error(400, "refused once"), last_user_contains="number 1?", times=1)
    write_jsonl(tmp_path / "in.jsonl", numbered(6))
    out = tmp_path / "out.jsonl"
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--limit", "3")
    assert code == 0 and summary is not None and summary["errors"] == 1
    with out.open("ab") as fh:  # what a crash in the middle of writing q3's line leaves
        fh.write(b'{"id": "q3", "question": "Question num')
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--resume")
    assert code == 0 and summary is not None
    assert "dropped 1 unreadable line" in err and "answering 1 question(s) again" in err
    lines = assert_one_line_per_id(out, [f"q{i}" for i in range(6)])
    assert all("error" not in line for line in lines)
    assert (summary["resumed"], summary["answered"], summary["errors"]) == (2, 6, 0)
    asked = [r.json["messages"][-1]["content"] for r in fake_server.chat_requests]
    assert sorted(asked) == sorted([f"Question number {i}?" for i in range(6)] + ["Question number 1?"])


def _start_cli(tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "app.py"), "batch", "in.jsonl", "-o", "out.jsonl", "--mode", "direct", *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_lines(out: Path, proc: subprocess.Popen[bytes], at_least: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= at_least:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the batch ended early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("no progress in time")


def test_sigkill_mid_batch_then_resume_gives_one_line_per_id(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.latency = 0.1
    ids = [f"q{i}" for i in range(60)]
    write_jsonl(tmp_path / "in.jsonl", numbered(60))
    out = tmp_path / "out.jsonl"
    proc = _start_cli(tmp_path, "--concurrency", "4")
    _wait_for_lines(out, proc, 10)
    proc.kill()  # SIGKILL: no cleanup of any kind
    proc.communicate(timeout=30)
    time.sleep(0.3)  # let requests already on the wire reach the server's log
    before = out.read_bytes()
    survived = [json.loads(line) for line in before.splitlines()]  # every line is whole: one write per line
    assert 10 <= len(survived) < 60
    asked_before = len(fake_server.chat_requests)

    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--resume")
    assert code == 0 and summary is not None
    assert out.read_bytes().startswith(before)  # what was on disk stays, byte for byte
    assert_one_line_per_id(out, ids)
    assert len(fake_server.chat_requests) - asked_before == 60 - len(survived)  # only the missing ones were asked
    assert (summary["resumed"], summary["answered"], summary["remaining"]) == (len(survived), 60, 0)


def test_ctrl_c_stops_cleanly_with_exit_130(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.latency = 0.1
    write_jsonl(tmp_path / "in.jsonl", numbered(60))
    out = tmp_path / "out.jsonl"
    proc = _start_cli(tmp_path, "--concurrency", "4")
    _wait_for_lines(out, proc, 5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr and b"interrupted" in stderr
    summary = json.loads(stdout.decode().splitlines()[-1])
    lines = read_out(out)
    assert summary["interrupted"] is True and summary["answered"] == len(lines) < 60
    assert summary["remaining"] == 60 - len(lines)
    code, summary, _ = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--resume")
    assert code == 0 and summary is not None and summary["answered"] == 60
    assert_one_line_per_id(out, [f"q{i}" for i in range(60)])


def test_resume_refuses_an_output_that_holds_no_answers(
    settings: Settings, fake_server: FakeOpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o names another questions file by mistake: its lines have ids but no answers, so they must not count as
    answered, and the file must not be rewritten (issue 15, item 5)."""
    write_jsonl(tmp_path / "in.jsonl", numbered(3))
    other = write_jsonl(tmp_path / "other.jsonl", numbered(3))
    before = other.read_bytes()
    code, summary, err = batch(capsys, "in.jsonl", "-o", "other.jsonl", "--mode", "direct", "--resume")
    assert code == 2 and summary is None
    assert 'not an answer record (no "answer" field)' in err and "other.jsonl" in err
    assert other.read_bytes() == before and not fake_server.chat_requests


def test_a_dead_endpoint_trips_the_breaker_and_says_how_to_resume(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, item 13: after 5 consecutive connection failures the batch stops instead of trying every line."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nobody listens there
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "in.jsonl", numbered(12))
    code, summary, err = batch(capsys, "in.jsonl", "-o", "out.jsonl", "--mode", "direct", "--concurrency", "1")
    assert code == 1 and summary is not None
    assert (summary["errors"], summary["answered"], summary["remaining"]) == (5, 0, 7)
    assert "unreachable for 5 questions in a row" in summary["stopped"]
    errors = [line for line in err.splitlines() if line.startswith("lodestar: error:")]
    assert len(errors) == 1 and "lodestar batch in.jsonl -o out.jsonl --resume" in errors[0], err
    assert len(read_out(tmp_path / "out.jsonl")) == 5
