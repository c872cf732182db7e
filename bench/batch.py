"""Batch throughput and memory against the fake OpenAI server.

    python bench/batch.py [--quick]

1. questions/s at --concurrency 1, 8 and 64 with 200 ms server latency and an endpoint limit of 64: the goal is
   near-linear scaling up to the endpoint limit (ideal: concurrency / 0.2 s).
2. peak RSS of one ``lodestar batch`` process answering 10,000 questions (5 ms latency, concurrency 64), next to
   the RSS of a 100-question run, to show that memory does not grow with the batch.

Each batch is a real ``python app.py batch`` subprocess (so RSS is its own, read with wait4), in direct mode, with
the fake server in another process so that the two do not share a GIL. Prints a table; saves
bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "batch.json"

CONFIG = """
[endpoints.main]
base_url = "{base_url}"
api_key = "sk-bench"
max_concurrency = 64
max_retries = 2
read_timeout_s = 60

[roles.default]
model = "fake-model"
max_tokens = 32
"""


class FakeServer:
    """The fake server in its own process (``python -m agent.testing.fake_openai``)."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.testing.fake_openai",
                "--port",
                "0",
                "--latency",
                str(latency),
                "--reply",
                "The answer is OK.",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("the fake server did not start")

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_batch(workdir: Path, base_url: str, n: int, concurrency: int, startup_cpu_s: float = 0.0) -> dict[str, Any]:
    """One ``lodestar batch`` subprocess over n fresh questions; its summary plus wall time and peak RSS."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"c{concurrency}-n{n}-", dir=workdir))
    (run_dir / "lodestar.toml").write_text(CONFIG.format(base_url=base_url), encoding="utf-8")
    with (run_dir / "in.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": i, "question": f"Benchmark question number {i}?", "answers": ["OK"]}) + "\n")
    env = {**os.environ, "LODESTAR_HOME": str(run_dir / "home")}
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LODESTAR_MODEL", "LODESTAR_CONFIG"):
        env.pop(name, None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "app.py"),
            "batch",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--mode",
            "direct",
            "--concurrency",
            str(concurrency),
        ],
        cwd=run_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"batch exited {proc.returncode}")
    summary = json.loads(stdout.decode().splitlines()[-1])
    lines = (run_dir / "out.jsonl").read_bytes().count(b"\n")
    return {
        "questions": n,
        "concurrency": concurrency,
        "answered": summary["answered"],
        "errors": summary["errors"],
        "output_lines": lines,
        "batch_wall_s": summary["wall_s"],  # inside the command: hub start to last line
        "process_wall_s": round(wall, 3),  # including interpreter start and imports
        "questions_per_s": round(summary["answered"] / summary["wall_s"], 1) if n else 0.0,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        # CPU the batch process burnt per question: the ceiling on one core is 1000 / this q/s, whatever the load
        # (less the interpreter's start-up and imports, measured on an empty batch)
        "cpu_ms_per_question": round((usage.ru_utime + usage.ru_stime - startup_cpu_s) * 1000 / max(n, 1), 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the figures
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the benchmark)")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "throughput": [],
        "memory": [],
    }
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-batch-") as tmp:
        workdir = Path(tmp)
        latency = 0.2
        with FakeServer(latency) as server:
            startup = min(run_batch(workdir, server.base_url, 0, 1)["cpu_s"] for _ in range(2))
            results["startup_cpu_s"] = startup
            print(f"start-up (empty batch): {startup:.2f} s CPU", flush=True)
            for concurrency, n in ((1, 50), (8, 200), (64, 1600)):
                row = run_batch(workdir, server.base_url, max(concurrency, int(n * scale)), concurrency, startup)
                row["latency_s"] = latency
                row["ideal_questions_per_s"] = round(concurrency / latency, 1)
                row["efficiency"] = round(row["questions_per_s"] / row["ideal_questions_per_s"], 3)
                results["throughput"].append(row)
                print(
                    f"concurrency {concurrency:>2}: {row['questions_per_s']:>6.1f} q/s "
                    f"(ideal {row['ideal_questions_per_s']:.0f}, efficiency {row['efficiency']:.0%}) "
                    f"over {row['questions']} questions, {row['cpu_ms_per_question']} ms CPU/question, "
                    f"peak RSS {row['peak_rss_mb']} MB, load {row['load_avg_1m']}",
                    flush=True,
                )
        latency = 0.005
        with FakeServer(latency) as server:
            for n in (100, 10_000):
                row = run_batch(workdir, server.base_url, max(100, int(n * scale)), 64, results["startup_cpu_s"])
                row["latency_s"] = latency
                results["memory"].append(row)
                print(
                    f"{row['questions']:>6} questions at concurrency 64, {latency * 1000:.0f} ms latency: "
                    f"peak RSS {row['peak_rss_mb']} MB, {row['questions_per_s']} q/s, "
                    f"{row['output_lines']} lines, {row['errors']} errors, load {row['load_avg_1m']}",
                    flush=True,
                )
    save_results(RESULTS, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
