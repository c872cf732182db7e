"""The chat TUI's responsiveness, on the fake OpenAI server at zero LLM latency (so the figures are the UI's own).

    python bench/tui.py [--runs 10] [--paint-runs 5] [--tokens 2000] [--paced-rate 200]

The fake server runs in its own process, as a real endpoint would: in-process, its thread would compete with the
UI for the GIL and the figures would measure that contention instead of the UI.

1. Time to first paint: a fresh process imports the app and runs it headless (120x40); measured from process
   start (imports included) and from ``App.run`` to the first refresh. The baseline, measured the same way in the
   same run: a bare Textual app with a header, an input and a footer; the figure is the ratio (goal <= 1.5x).
2. Enter → first streamed token on screen: the question is submitted with a real Enter key event; "on screen" is
   the first refresh after the token's Markdown append has landed. The first question of a session and the
   median/p90 of the following ones are reported separately (the first pays for one-off imports).
3. Rendering throughput: a 2,000-token Markdown answer (paragraphs, bold, lists) streamed one token per SSE event.
   At zero latency: tokens / (Enter → last token on screen), next to the raw HTTP stream rate without a UI (the
   widget coalesces pieces that arrive faster than it renders). Paced at 200 tokens/s (a fast hosted model): the
   rate the pieces were received at, the rate they were rendered at, and how long after the last piece arrived
   it was on screen (the UI's backlog).

Prints the figures; saves bench/results/tui.json. Not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

RESULTS = REPO / "bench" / "results" / "tui.json"
SIZE = (120, 40)
SHORT_ANSWER = "Polaris is the **North Star**; sailors steered by it for centuries."
CONFIG = """
[endpoints.bench]
base_url = "{url}"
max_retries = 0

[roles.default]
model = "fake-model"
max_tokens = 8192
"""


def long_answer(tokens: int) -> str:
    """About ``tokens`` fake-server tokens (whitespace-led words) of ordinary answer Markdown."""
    words: list[str] = []
    paragraph = 0
    while len(words) < tokens:
        paragraph += 1
        body = [f"word{len(words) + i}" for i in range(55)]
        body[3] = f"**{body[3]}**"
        words += body
        words += ["\n\n-", f"point{paragraph}a", "\n-", f"point{paragraph}b\n\n"]
    return " ".join(words[:tokens])


class ServerProcess:
    """``python -m agent.testing.fake_openai`` answering every question with ``reply``."""

    def __init__(self, reply: str, chunk_delay: float = 0.0) -> None:
        self.args = [
            sys.executable,
            "-m",
            "agent.testing.fake_openai",
            "--reply",
            reply,
            "--chunk-delay",
            str(chunk_delay),
        ]

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def settings_for(tmp: Path, name: str, url: str) -> tuple[Any, Path]:
    from agent.core.config import load_settings

    config = tmp / f"{name}.toml"
    config.write_text(CONFIG.format(url=url), encoding="utf-8")
    return load_settings(config), config


class Marks(dict[str, float]):
    """The app's ``on_mark`` hook: the first time each named point was reached (perf_counter), and the process's
    CPU time then (``cpu``; less sensitive than wall time to other processes' load on a shared machine)."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        self.setdefault(name, time.perf_counter())
        self.cpu.setdefault(name, time.process_time())

    def clear(self) -> None:
        super().clear()
        self.cpu.clear()


# -- 1. first paint ---------------------------------------------------------------------------------------------


def bare_app(on_mark: Marks) -> Any:
    """The baseline: a bare Textual app with a header, an input and a footer that marks its first paint."""
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Header, Input

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield Input(placeholder="Ask a question")
            yield Footer()

        def on_mount(self) -> None:
            self.call_after_refresh(on_mark, "first_paint")

    return Bare()


def first_paint_child(which: str) -> None:
    """Runs in a fresh interpreter: imports, then the app to its first paint; prints one JSON line."""
    import psutil

    started = psutil.Process().create_time()
    marks = Marks()
    if which == "bare":
        app = bare_app(marks)
        imported = time.time()
    else:
        from agent.core.config import load_settings
        from ui.app import LodestarApp

        imported = time.time()
        app = LodestarApp(load_settings(os.environ["LODESTAR_CONFIG"]), mode="direct", on_mark=marks)

    async def until_painted() -> tuple[float, float]:
        wall, t0 = time.time(), time.perf_counter()
        async with app.run_test(size=SIZE) as pilot:
            while "first_paint" not in marks:
                await pilot.pause(0.005)
            return wall, marks["first_paint"] - t0

    run_wall, from_run = asyncio.run(until_painted())
    print(
        json.dumps(
            {
                "imports_s": imported - started,
                "from_run_s": from_run,
                "from_process_start_s": run_wall - started + from_run,
                "cpu_s": marks.cpu["first_paint"],
            }
        )
    )


def measure_first_paint(config: Path, runs: int) -> dict[str, Any]:
    """Lodestar and the bare baseline in alternating fresh processes (so load drifts hit both alike)."""
    env = {**os.environ, "LODESTAR_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    samples: dict[str, list[dict[str, float]]] = {"lodestar": [], "bare": []}
    for _ in range(runs):
        for which in samples:
            out = subprocess.run(
                [sys.executable, __file__, "--child-first-paint", which],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=180,
            )
            samples[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
    medians = {
        which: {key: round(statistics.median(s[key] for s in runs_), 4) for key in runs_[0]}
        for which, runs_ in samples.items()
    }
    ratio = medians["lodestar"]["from_process_start_s"] / medians["bare"]["from_process_start_s"]
    cpu_ratio = medians["lodestar"]["cpu_s"] / medians["bare"]["cpu_s"]
    return medians["lodestar"] | {
        "bare_textual": medians["bare"],
        "ratio_to_bare": round(ratio, 2),
        "cpu_ratio_to_bare": round(cpu_ratio, 2),
        "runs": runs,
    }


# -- 2. Enter to first token ------------------------------------------------------------------------------------


async def measure_first_token(settings: Any, runs: int) -> dict[str, Any]:
    from ui.app import LodestarApp

    marks = Marks()
    app = LodestarApp(settings, mode="direct", on_mark=marks)
    painted: list[float] = []
    rendered: list[float] = []
    cpu: list[float] = []  # this process's CPU time over the same span (the app and this loop's polling)
    async with app.run_test(size=SIZE) as pilot:
        while app.hub_state != "ready":
            await pilot.pause(0.01)
        box = app.query_one("#question")
        for i in range(runs + 1):
            marks.clear()
            box.focus()
            box.value = f"Which star, run {i}?"
            await pilot.pause()
            t0, cpu0 = time.perf_counter(), time.process_time()
            await app._press_keys(["enter"])  # the real key path, without Pilot's wait-for-idle afterwards
            while "first_token_painted" not in marks:
                await asyncio.sleep(0.0005)
            painted.append(marks["first_token_painted"] - t0)
            rendered.append(marks["first_token_rendered"] - t0)
            cpu.append(marks.cpu["first_token_painted"] - cpu0)
            while app.answering:
                await asyncio.sleep(0.002)
            await pilot.pause()
    warm = sorted(painted[1:])
    return {
        "first_question_ms": round(painted[0] * 1000, 1),
        "median_ms": round(statistics.median(warm) * 1000, 1),
        "p90_ms": round(warm[max(0, round(len(warm) * 0.9) - 1)] * 1000, 1),
        "min_ms": round(warm[0] * 1000, 1),
        "median_until_appended_ms": round(statistics.median(rendered[1:]) * 1000, 1),
        "median_cpu_ms": round(statistics.median(cpu[1:]) * 1000, 1),
        "runs": runs,
    }


# -- 3. throughput ----------------------------------------------------------------------------------------------


async def stream_into_app(settings: Any, question: str) -> dict[str, Any]:
    """Ask once in a fresh app; when the answer's first and last pieces were rendered."""
    from ui.app import LodestarApp
    from ui.widgets.chat import AnswerMessage

    app = LodestarApp(settings, mode="direct")
    async with app.run_test(size=SIZE) as pilot:
        while app.hub_state != "ready":
            await pilot.pause(0.01)
        t0 = time.perf_counter()
        await app.ask(question)
        answer = app.query(AnswerMessage).last()
        while app.answering:
            await asyncio.sleep(0.005)
        live = answer.live
        assert live is not None and live.first_render_at and live.last_render_at
        assert live.first_fed_at and live.last_fed_at
        return {
            "first": live.first_render_at - t0,
            "last": live.last_render_at - t0,
            "appends": live.appends,
            "received_s": live.last_fed_at - live.first_fed_at,
            "lag_s": live.last_render_at - live.last_fed_at,
            "source": answer.body.source,
        }


async def raw_stream_rate(settings: Any) -> tuple[int, float]:
    from agent.llm.hub import LLMHub

    async with LLMHub(settings) as hub:
        llm = hub.llm("summarizer")
        t0 = time.perf_counter()
        pieces = 0
        async with llm.stream([{"role": "user", "content": "a long answer"}]) as stream:
            async for _ in stream:
                pieces += 1
        return pieces, time.perf_counter() - t0


async def measure_throughput(fast: Any, paced: Any, text: str, paced_rate: float) -> dict[str, Any]:
    pieces, raw_s = await raw_stream_rate(fast)
    quick = await stream_into_app(fast, "a long answer, please")
    slow = await stream_into_app(paced, "a long answer, please")
    slow_span = slow["last"] - slow["first"]
    return {
        "tokens": pieces,
        "text_intact": quick["source"].strip() == text.strip() == slow["source"].strip(),
        "zero_latency": {
            "enter_to_last_token_on_screen_s": round(quick["last"], 3),
            "rendered_tokens_per_s": round(pieces / quick["last"], 1),
            "markdown_appends": quick["appends"],
            "raw_http_stream_tokens_per_s": round(pieces / raw_s, 1),
        },
        "paced": {
            "server_tokens_per_s": paced_rate,
            "received_tokens_per_s": round(pieces / slow["received_s"], 1),
            "rendered_tokens_per_s": round(pieces / slow_span, 1),
            "markdown_appends": slow["appends"],
            "lag_after_last_token_ms": round(slow["lag_s"] * 1000, 1),
        },
    }


# -- main -------------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    text = long_answer(args.tokens)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["LODESTAR_HOME"] = str(tmp / "home")
        with ServerProcess(SHORT_ANSWER) as url:
            settings, config = settings_for(tmp, "short", url)
            paint = measure_first_paint(config, args.paint_runs)
            first_token = await measure_first_token(settings, args.runs)
        with ServerProcess(text) as fast_url, ServerProcess(text, 1 / args.paced_rate) as paced_url:
            fast, _ = settings_for(tmp, "fast", fast_url)
            paced, _ = settings_for(tmp, "paced", paced_url)
            throughput = await measure_throughput(fast, paced, text, args.paced_rate)
    return {"first_paint": paint, "enter_to_first_token": first_token, "throughput": throughput}


def report(figures: dict[str, Any]) -> None:
    paint, token, tput = figures["first_paint"], figures["enter_to_first_token"], figures["throughput"]
    fast, paced = tput["zero_latency"], tput["paced"]
    print(
        f"first paint:          {paint['from_process_start_s'] * 1000:.0f} ms from process start "
        f"({paint['imports_s'] * 1000:.0f} ms imports, {paint['from_run_s'] * 1000:.0f} ms from App.run); "
        f"{paint['ratio_to_bare']}x a bare Textual app's {paint['bare_textual']['from_process_start_s'] * 1000:.0f} ms"
        f" (CPU time {paint['cpu_s'] * 1000:.0f} ms, {paint['cpu_ratio_to_bare']}x the bare app's)"
    )
    print(
        f"Enter → first token:  median {token['median_ms']} ms, p90 {token['p90_ms']} ms, min {token['min_ms']} ms"
        f" (first question of a session: {token['first_question_ms']} ms); median CPU time {token['median_cpu_ms']} ms"
    )
    print(
        f"{tput['tokens']:,}-token answer:   {fast['rendered_tokens_per_s']} tokens/s rendered at zero latency "
        f"(Enter → last token on screen {fast['enter_to_last_token_on_screen_s']} s in {fast['markdown_appends']} "
        f"Markdown appends; raw HTTP stream {fast['raw_http_stream_tokens_per_s']} tokens/s)"
    )
    print(
        f"                      paced at {paced['server_tokens_per_s']:.0f} tokens/s (received at "
        f"{paced['received_tokens_per_s']}): rendered {paced['rendered_tokens_per_s']} tokens/s in "
        f"{paced['markdown_appends']} appends, last token on screen {paced['lag_after_last_token_ms']} ms after it "
        f"arrived; text intact: {tput['text_intact']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="questions for the first-token figure")
    parser.add_argument("--paint-runs", type=int, default=5, help="fresh processes (each app) for first paint")
    parser.add_argument("--tokens", type=int, default=2000, help="answer length for the throughput figure")
    parser.add_argument("--paced-rate", type=float, default=200.0, help="tokens/s of the paced stream")
    parser.add_argument("--child-first-paint", choices=["lodestar", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_first_paint:
        first_paint_child(args.child_first_paint)
        return 0
    load_before = os.getloadavg()
    figures = asyncio.run(run(args))
    report(figures)
    result = {
        **figures,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    save_results(RESULTS, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
