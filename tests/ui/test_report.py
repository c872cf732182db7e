"""``lodestar report``: a real batch (direct, rag, kg and tools over the fake server) turned into HTML and opened in a
real headless Chromium — no console errors, no network, the batch summary's numbers on the page, the traces
readable, hostile model output shown as text — plus bad input as one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app
from agent.batch.metrics import score
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from kg.store import graph_dir
from rag.ingest import ingest_paths
from tests.conftest import write_config
from tests.kg_fixtures import NAVIGATION, Explorer, build_graph, kind_of
from tests.loop.test_loop import CALLER, PLANNER, SUMMARIZER
from tests.rag_fixtures import FINAL, JUDGE, PREDICTOR, write_corpus
from tests.ui.chromium import CHROMIUM, Browser
from ui.report.builder import build_report

HOSTILE = '<img src=x onerror="window.pwned=1"></script><script>window.pwned=2</script>'
METRIC_KEYS = ("total", "answered", "errors", "scored", "em", "f1", "accuracy", "hits_at_1", "llm_calls")
METRIC_KEYS += ("prompt_tokens", "completion_tokens", "cache_hits")


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real batch over the fake server with a question per mode and a hostile one: (answers, summary)."""
    root = tmp_path_factory.mktemp("report")
    server = FakeOpenAIServer()
    server.start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LODESTAR_HOME", str(root / "home"))
        for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LODESTAR_MODEL", "LODESTAR_CONFIG"):
            env.delenv(name, raising=False)
        env.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        env.chdir(root)
        try:
            write_config(
                root / "lodestar.toml", server.base_url, extra='[kg]\noutput_format = "text"\nlink_embeddings = false\n'
            )
            settings = app.load_settings(None)
            ingest_paths([str(write_corpus(root / "corpus"))], settings)
            build_graph(NAVIGATION).save(graph_dir(settings.home))
            server.reply(
                Explorer(relations=["made_by", "born_in"], sufficient_when="John Harrison, born_in, Foulby"),
                match=lambda body: kind_of(body) != "unknown",
            )
            server.reply("Smeaton", system_contains=PREDICTOR)
            server.reply(
                Reply(content="Yes", top_logprobs={"Yes": -0.05, "No": -4.0}),
                system_contains=JUDGE,
                contains="Eddystone Rocks",
            )
            server.reply(Reply(content="No", top_logprobs={"No": -0.05, "Yes": -5.0}), system_contains=JUDGE)
            server.reply("John Smeaton [1].", system_contains=FINAL)
            server.reply(["Check the time. Next: caller.", "Done. Next: summarizer."], system_contains=PLANNER)
            server.reply([Reply.tool_call("current_datetime", {"timezone": "Europe/London"})], system_contains=CALLER)
            server.reply("It is noon [1].", system_contains=SUMMARIZER)
            server.reply("Paris.", last_user_contains="France")
            server.reply("In 1969", last_user_contains="moon")
            server.reply("Answer: " + HOSTILE, last_user_contains="hostile")
            questions = [
                {"id": "d1", "question": "Capital of France?", "answers": ["Paris"], "mode": "direct"},
                {"id": "d2", "question": "Year of the moon landing?", "answers": ["1968"], "mode": "direct"},
                {"id": "x1", "question": "A hostile question " + HOSTILE, "answers": [HOSTILE], "mode": "direct"},
                {
                    "id": "r1",
                    "question": "Who built the third Eddystone lighthouse?",
                    "answers": ["John Smeaton"],
                    "mode": "rag",
                    "gold_docs": ["lighthouse.md", "compass.txt"],
                },
                {"id": "k1", "question": "Where was the maker of H4 born?", "answers": ["Foulby"], "mode": "kg"},
                {"id": "t1", "question": "What time is it in London?", "answers": ["noon"], "mode": "tools"},
            ]
            (root / "in.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
            import contextlib
            import io

            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = app.main(["batch", "in.jsonl", "-o", "answers.jsonl", "--concurrency", "2"])
            assert code == 0
            summary = json.loads(out.getvalue().strip().splitlines()[-1])
            yield {"root": root, "answers": root / "answers.jsonl", "summary": summary}
        finally:
            server.stop()


def shown_metrics(cells: list[dict[str, str]], run: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for cell in cells:
        if cell["run"] == run:
            out.setdefault(cell["mode"], {})[cell["metric"]] = cell["text"]
    return out


def assert_equal_to_summary(shown: dict[str, str], summary: dict[str, Any]) -> None:
    for key in METRIC_KEYS:
        value = summary.get(key)
        if value is None:
            assert shown[key] == "—", key
        else:
            assert float(shown[key]) == pytest.approx(value, abs=5e-5), key


CELLS = """[...document.querySelectorAll('td[data-metric]')].map(td => ({run: td.dataset.run, mode: td.dataset.mode,
metric: td.dataset.metric, text: td.textContent}))"""


def click_row(id_: str) -> str:
    return f"""(() => {{ const search = document.getElementById('search'); search.value = {json.dumps(id_)};
    search.dispatchEvent(new Event('input')); return true; }})()"""


async def open_report(browser: Browser, html: Path) -> Any:
    page = await browser.open(html.resolve().as_uri())
    await page.wait_for("document.body.dataset.ready === '1'")
    return page


async def show(page: Any, id_: str) -> None:
    await page.evaluate(click_row(id_))
    await page.wait_for(
        f"document.querySelectorAll('.row.item').length === 1 && document.querySelector('.row.item div').textContent === {json.dumps(id_)}"
    )
    await page.evaluate("document.querySelector('.row.item').click()")
    await page.wait_for("!document.getElementById('detail').hidden")


# CI installs chromium (.ci/run), so there a missing browser fails instead of skipping
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="needs Debian's chromium (apt-get install chromium)"
)


async def test_report_in_a_real_browser(
    batch_run: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "report.html"
    assert await asyncio.to_thread(app.main, ["report", str(batch_run["answers"]), "-o", str(html)]) == 0
    assert f"wrote {html}" in capsys.readouterr().out
    summary = batch_run["summary"]
    async with Browser() as browser:
        page = await open_report(browser, html)
        # the numbers on the page are the batch's own summary, overall and per mode
        cells = shown_metrics(await page.evaluate(CELLS), "run")
        assert set(cells) == {"overall", *summary["by_mode"]}
        assert_equal_to_summary(cells["overall"], summary)
        for mode, values in summary["by_mode"].items():
            assert_equal_to_summary(cells[mode], values)
        assert await page.evaluate("document.getElementById('shown').textContent") == "6 of 6 shown"
        assert await page.evaluate("document.querySelectorAll('figure.chart svg rect.bar').length") > 3

        # MAIN-RAG's score table: threshold, kept/dropped, the gold paragraphs starred (one of them dropped)
        await show(page, "r1")
        docs = await page.evaluate(
            "[...document.querySelectorAll('#detail table.docs tr.kept, #detail table.docs tr.dropped')].map(tr => [tr.className, tr.textContent])"
        )
        assert len(docs) == 3
        assert [c for c, t in docs if "lighthouse.md" in t] == ["kept gold"]
        assert [c for c, t in docs if "compass.txt" in t] == ["dropped gold"]
        detail = await page.evaluate("document.getElementById('detail').textContent")
        assert "threshold" in detail and "a gold paragraph (★) was dropped" in detail
        await page.screenshot(tmp_path / "report-rag.png")

        # Think-on-Graph's beam as a drawing: topic entity, then one column per depth
        await show(page, "k1")
        labels = await page.evaluate("[...document.querySelectorAll('#detail svg.kg g text')].map(t => t.textContent)")
        assert labels[0] == "H4" and "John Harrison" in labels and "Foulby" in labels
        assert await page.evaluate("document.querySelectorAll('#detail svg.kg line').length") >= 2
        await page.screenshot(tmp_path / "report-kg.png")

        # the loop: plans, the tool call and its result
        await show(page, "t1")
        steps = await page.evaluate("[...document.querySelectorAll('#detail .step')].map(s => s.className)")
        assert steps == ["step plan", "step call", "step result", "step plan"]

        # hostile model output is text: no element made from it, no script run from it
        await show(page, "x1")
        assert HOSTILE in await page.evaluate("document.getElementById('detail').textContent")
        assert (
            await page.evaluate("document.querySelectorAll('img').length + document.querySelectorAll('script').length")
            == 2
        )
        assert await page.evaluate("window.pwned === undefined")

        # sorting and filtering
        await page.evaluate(click_row(""))
        await page.wait_for("document.getElementById('shown').textContent === '6 of 6 shown'")
        await page.evaluate(
            "document.getElementById('mode').value = 'direct'; document.getElementById('mode').dispatchEvent(new Event('change'))"
        )
        assert await page.evaluate("document.getElementById('shown').textContent") == "3 of 6 shown"
        await page.evaluate(
            "document.getElementById('mode').value = ''; document.getElementById('mode').dispatchEvent(new Event('change'))"
        )
        await page.evaluate("[...document.querySelectorAll('#thead button')].find(b => b.textContent === 'F1').click()")
        f1s = await page.evaluate("[...document.querySelectorAll('.row.item')].map(r => r.children[6].textContent)")
        assert f1s == sorted(f1s, reverse=True)

        shot = await page.screenshot(tmp_path / "report.png")
        assert page.errors() == [] and page.dialogs == []
        assert [url for url in page.requests if url != html.resolve().as_uri()] == [], "the report loaded something"
    assert shot.stat().st_size > 10_000
    if copy := os.environ.get("LODESTAR_REPORT_SCREENSHOT"):  # for a person to look at (the lead's closing note)
        shutil.copy(shot, copy)
        for name in ("rag", "kg"):
            shutil.copy(tmp_path / f"report-{name}.png", Path(copy).with_name(f"report-screenshot-{name}.png"))


async def test_compare_two_runs_in_a_real_browser(batch_run: dict[str, Any], tmp_path: Path) -> None:
    records = [json.loads(line) for line in batch_run["answers"].read_text(encoding="utf-8").splitlines()]
    changed = []
    for record in records:
        if record["id"] == "d2":  # B gets it right: a win
            record["answer"] = "1968"
        elif record["id"] == "d1":  # B gets it wrong: a loss
            record["answer"] = "Lyon"
        elif record["id"] == "k1":
            continue  # only in A
        record.update(score(record["answer"], record["answers"], mode=record["mode"]))
        changed.append(record)
    changed.append({"id": "new", "question": "Only in B?", "answer": "yes", "mode": "direct", "usage": {}})
    b = tmp_path / "b.jsonl"
    b.write_text("".join(json.dumps(r) + "\n" for r in changed), encoding="utf-8")
    html = build_report([batch_run["answers"], b], tmp_path / "compare.html")
    async with Browser() as browser:
        page = await open_report(browser, html)
        cells = await page.evaluate(CELLS)
        a_overall, b_overall = shown_metrics(cells, "A")["overall"], shown_metrics(cells, "B")["overall"]
        assert_equal_to_summary(a_overall, batch_run["summary"])
        deltas = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('td[data-delta]')].map(td => [td.dataset.delta, td.textContent]))"
        )
        assert float(deltas["em"]) == pytest.approx(float(b_overall["em"]) - float(a_overall["em"]), abs=1e-4)
        outcomes = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('[data-outcome]')].map(s => [s.dataset.outcome, s.textContent]))"
        )
        assert outcomes == {
            "win": "win: 1",
            "loss": "loss: 1",
            "tie": "tie: 3",
            "only A": "only A: 1",
            "only B": "only B: 1",
        }
        await page.evaluate(
            "document.getElementById('outcome').value = 'win'; document.getElementById('outcome').dispatchEvent(new Event('change'))"
        )
        assert await page.evaluate(
            "[...document.querySelectorAll('.row.item')].map(r => r.children[0].textContent)"
        ) == ["d2"]
        await page.evaluate("document.querySelector('.row.item').click()")
        await page.wait_for("!document.getElementById('detail').hidden")
        assert await page.evaluate("document.querySelectorAll('#detail .traces > div').length") == 2
        shot = await page.screenshot(tmp_path / "compare.png")
        assert page.errors() == [] and page.dialogs == []
        assert [url for url in page.requests if url != html.resolve().as_uri()] == []
    if copy := os.environ.get("LODESTAR_REPORT_SCREENSHOT"):
        shutil.copy(shot, Path(copy).with_name("report-screenshot-compare.png"))
