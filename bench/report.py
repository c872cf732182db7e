"""How ``lodestar report`` scales: build time, file size and browser open time at 1,000 and 10,000 questions.

    python bench/report.py [--quick]

Writes a synthetic batch (answers file plus one JSONL trace per question, a mix of rag questions with ten scored
documents, kg questions with a two-depth beam, tools questions with plans and tool steps, and direct questions),
then times ``build_report`` and measures the HTML's size. Growth should be linear: the 10k/1k ratios of size and
build time are the figures, with 10 the ideal. Where Debian's chromium is installed it also opens each report in
headless Chromium and times load-to-ready and one search over every row (the goal: a few seconds at 10k). Prints
a table; saves bench/results/report.json. ``--quick``: 100 and 1,000 questions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "report.json"

from ui.report.builder import build_report

WORDS = ("the", "lighthouse", "compass", "harbour", "chronometer", "longitude", "latitude", "voyage", "beacon", "tide")


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def llm(role: str, rng: random.Random) -> dict[str, Any]:
    return {
        "type": "llm_call",
        "role": role,
        "model": "bench-model",
        "prompt_tokens": rng.randint(50, 900),
        "completion_tokens": rng.randint(2, 80),
        "latency_s": round(rng.uniform(0.05, 2.0), 3),
        "ok": True,
    }


def trace_events(mode: str, question: str, answer: str, rng: random.Random) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "run_start", "question": question, "mode": mode}]
    if mode == "rag":
        docs = [
            {
                "id": f"{rng.getrandbits(64):016x}",
                "score": round(rng.uniform(-5, 5), 4),
                "source": f"corpus/doc{rng.randint(0, 999)}.md",
                "title": sentence(rng, 3),
            }
            for _ in range(10)
        ]
        events += [llm(r, rng) for r in ("summarizer", "judge") * 10]
        mean = sum(d["score"] for d in docs) / len(docs)
        events.append(
            {
                "type": "docs_scored",
                "docs": docs,
                "threshold": mean,
                "n": 0.0,
                "scoring": "logprobs",
                "kept": [d["id"] for d in docs if d["score"] >= mean],
            }
        )
    elif mode == "kg":
        topic = sentence(rng, 2)
        frontier = [topic]
        for depth in (1, 2):
            events += [llm("explorer", rng) for _ in range(3)]
            paths = [
                [[frontier[0], f"rel_{rng.randint(0, 50)}", sentence(rng, 2)] for _ in range(depth)] for _ in range(3)
            ]
            events.append(
                {
                    "type": "kg_step",
                    "depth": depth,
                    "frontier": frontier,
                    "candidates": rng.randint(3, 40),
                    "relations": [{"entity": frontier[0], "relation": f"rel_{i}", "score": 0.3} for i in range(3)],
                    "kept": paths,
                    "sufficient": depth == 2,
                }
            )
            frontier = [p[-1][2] for p in paths]
    elif mode == "tools":
        for step in ("1", "2"):
            events.append(llm("planner", rng))
            events.append({"type": "plan", "thought": sentence(rng, 25) + " Next: caller.", "next": "caller"})
            events.append(llm("caller", rng))
            events.append({"type": "tool_call", "name": "calculator", "arguments": {"expression": "2+2"}, "step": step})
            events.append(
                {
                    "type": "tool_result",
                    "name": "calculator",
                    "ok": True,
                    "output": {"value": 4},
                    "step": step,
                    "latency_s": 0.001,
                }
            )
    events.append(llm("summarizer", rng))
    events.append({"type": "answer", "text": answer, "citations": []})
    events.append({"type": "run_end", "ok": True, "usage": {}})
    return events


def write_batch(folder: Path, n: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    traces = folder / "traces"
    traces.mkdir(parents=True)
    modes = ("rag", "kg", "tools", "direct")
    with (folder / "answers.jsonl").open("w", encoding="utf-8") as out:
        for i in range(n):
            mode = modes[i % 4]
            question = sentence(rng, 12) + "?"
            gold = sentence(rng, 2)
            answer = gold if rng.random() < 0.4 else sentence(rng, rng.randint(2, 30))
            events = trace_events(mode, question, answer, rng)
            path = traces / f"q{i}.jsonl"
            path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
            calls = [e for e in events if e["type"] == "llm_call"]
            em = float(answer == gold)
            record = {
                "id": f"q{i}",
                "question": question,
                "answer": answer,
                "mode": mode,
                "answers": [gold],
                "em": em,
                "f1": em or round(rng.random() * 0.6, 4),
                "accuracy": em,
                "usage": {
                    "llm_calls": len(calls),
                    "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
                    "completion_tokens": sum(c["completion_tokens"] for c in calls),
                },
                "latency_s": round(sum(c["latency_s"] for c in calls), 3),
                "trace_file": str(path),
            }
            out.write(json.dumps(record) + "\n")
    return folder / "answers.jsonl"


async def open_in_browser(url: str) -> dict[str, float] | None:
    from tests.ui.chromium import CHROMIUM, Browser

    if CHROMIUM is None:
        return None
    async with Browser() as browser:
        started = time.perf_counter()
        page = await browser.open(url)
        await page.wait_for("document.body.dataset.ready === '1'", timeout_s=120)
        ready = time.perf_counter() - started
        search = await page.evaluate(
            """(() => { const t0 = performance.now(); const s = document.getElementById('search');
            s.value = 'beacon lighthouse'; s.dispatchEvent(new Event('input')); return t0; })()"""
        )
        await page.wait_for(
            "document.getElementById('shown').textContent.indexOf(' of ') > 0 && "
            "document.getElementById('search').value !== ''"
        )
        searched = await page.evaluate(f"performance.now() - {search}")
        errors = page.errors()
    return {"open_s": round(ready, 3), "search_ms": round(float(searched), 1), "console_errors": len(errors)}


def measure(n: int, root: Path) -> dict[str, Any]:
    folder = root / f"n{n}"
    folder.mkdir()
    answers = write_batch(folder, n)
    started = time.perf_counter()
    html = build_report([answers], folder / "report.html")
    build_s = time.perf_counter() - started
    row: dict[str, Any] = {
        "questions": n,
        "build_s": round(build_s, 3),
        "size_mb": round(html.stat().st_size / 1e6, 3),
        "bytes_per_question": round(html.stat().st_size / n),
    }
    browser = asyncio.run(open_in_browser(html.resolve().as_uri()))
    if browser:
        row.update(browser)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 questions")
    args = parser.parse_args()
    sizes = (100, 1000) if args.quick else (1000, 10_000)
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-report-") as tmp:
        rows = [measure(n, Path(tmp)) for n in sizes]
    small, big = rows
    ratios = {
        "questions": big["questions"] / small["questions"],
        "size": round(big["size_mb"] / small["size_mb"], 2),
        "build_time": round(big["build_s"] / small["build_s"], 2),
    }
    if "open_s" in big:
        ratios["open_time"] = round(big["open_s"] / small["open_s"], 2)
    print(f"{'questions':>10} {'build s':>8} {'MB':>7} {'B/question':>11} {'open s':>7} {'search ms':>10}")
    for row in rows:
        print(
            f"{row['questions']:>10} {row['build_s']:>8} {row['size_mb']:>7} {row['bytes_per_question']:>11} "
            f"{row.get('open_s', '-'):>7} {row.get('search_ms', '-'):>10}"
        )
    print(
        f"growth for {ratios['questions']:.0f}x the questions: size x{ratios['size']}, build x{ratios['build_time']}"
        + (f", open x{ratios['open_time']}" if "open_time" in ratios else "")
        + " (linear: x10)"
    )
    save_results(RESULTS, {"machine": platform.platform(), "rows": rows, "ratios": ratios, "quick": args.quick})


if __name__ == "__main__":
    main()
