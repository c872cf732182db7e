"""A long single-line file must cost what the same text in lines costs (issue 15, item 22).

Chunks the same text twice with the real tokenizer and chunker: once as lines (the baseline), once as one line,
and reports the one-line/lines ratios of wall time and of peak traced memory. Usage:
``python bench/ingest_single_line.py [--mb 2]``; results in bench/results/ingest_single_line.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent.core.config import load_settings
from bench.benchio import REPO, save_results
from rag.embed import get_embedder
from rag.ingest import make_chunker

SENTENCE = "the lodestone is a naturally magnetized piece of the mineral magnetite and sailors used it "


def measure(chunker, text: str) -> dict[str, float]:
    tracemalloc.start()
    started = time.perf_counter()
    chunks = chunker.chunk(text)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": round(seconds, 3), "peak_mb": round(peak / 2**20, 1), "chunks": len(chunks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0, help="size of the text (default 2 MB)")
    args = parser.parse_args()
    settings = load_settings(env={"LODESTAR_HOME": "/tmp/lodestar-bench-home"})
    chunker = make_chunker(settings, get_embedder(settings.rag.embedding_model))
    n = int(args.mb * 2**20 / (len(SENTENCE) + 1))
    lines = measure(chunker, (SENTENCE + "\n") * n)
    single = measure(chunker, SENTENCE * n)
    result = {
        "mb": args.mb,
        "lines": lines,
        "one_line": single,
        "time_ratio": round(single["seconds"] / lines["seconds"], 2),
        "memory_ratio": round(single["peak_mb"] / lines["peak_mb"], 2),
        "load": os.getloadavg()[0],
    }
    print(
        f"{args.mb:g} MB: lines {lines['seconds']} s / {lines['peak_mb']} MB, one line {single['seconds']} s / "
        f"{single['peak_mb']} MB: time x{result['time_ratio']}, memory x{result['memory_ratio']}"
    )
    save_results(REPO / "bench" / "results" / "ingest_single_line.json", result)


if __name__ == "__main__":
    main()
