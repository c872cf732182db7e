"""Tool retrieval (tools/retrieval.py, CRAFT's multi-view matching) against description-only retrieval, measured.

Pool: all 101 API-Bank APIs (data/all_apis.csv). Cases: the level-1 API-call cases (test-data/level-1-api.json);
the query is the dialogue's user turns, the gold is the API of the expected call. Example questions for the
"examples" view come from API-Bank's raw dialogues (lv1-lv2-samples): for each API call there, the user turns
since the previous call. Leave-one-dialogue-out: a case never sees examples taken from its own dialogue file.

Prints recall@1/3/5/10 for description-only, name + description, all three views (similarity-weighted votes, the
default), and all three with CRAFT's counted votes; the ratio of each to description-only; and retrieval latency
per question (the query's embedding included); saves JSON.

    python bench/tools_retrieval.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.embed import get_embedder
from tools.eval import parse_api_bank_call
from tools.registry import Tool
from tools.retrieval import ToolRetriever

DATA = Path(os.environ.get("LODESTAR_API_BANK", "/work/shared/data/tools/api_bank"))
RESULTS = REPO / "bench" / "results" / "tools_retrieval.json"
KS = (1, 3, 5, 10)
VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {  # label -> (views, fusion)
    "description": (("description",), "max"),
    "name+description": (("name", "description"), "max"),
    "multi-view (name+desc+examples)": (("name", "description", "examples"), "max"),
    "multi-view, CRAFT counted votes": (("name", "description", "examples"), "votes"),
}
_DESCRIPTION = re.compile(r'description\s*=\s*"((?:[^"\\]|\\.)*)"', re.DOTALL)


def load_pool(examples: dict[str, list[str]]) -> list[Tool]:
    """Every API in the catalogue as a schema-less tool with its description and tagged example questions."""
    tools = []
    with (DATA / "data" / "all_apis.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["类名"].strip()
            found = _DESCRIPTION.search(row["api_info"])
            description = found.group(1) if found else ""
            tools.append(
                Tool(
                    name=name,
                    description=description,
                    fn=lambda: None,
                    args_model=None,  # type: ignore[arg-type]  # never called or shown: retrieval reads names only
                    is_async=False,
                    examples=tuple(examples.get(name, ())),
                )
            )
    return tools


def load_examples() -> dict[str, list[str]]:
    """API name -> "file\\x1fuser turns" for each call in the raw dialogues (the tag enables leave-one-out)."""
    found: dict[str, list[str]] = defaultdict(list)
    for folder in ("level-1-given-desc", "level-2-toolsearcher"):
        for path in sorted((DATA / "lv1-lv2-samples" / folder).glob("*.jsonl")):
            users: list[str] = []
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                turn = json.loads(line)
                if turn.get("role") == "User":
                    users.append(turn.get("text", ""))
                elif turn.get("role") == "API" and users and turn.get("api_name") != "ToolSearcher":
                    found[turn["api_name"]].append(f"{path.name}\x1f{' '.join(users[-3:])}")
                    users = []
    return found


def load_cases(limit: int | None) -> list[dict[str, Any]]:
    cases = []
    for case in json.loads((DATA / "test-data" / "level-1-api.json").read_text(encoding="utf-8")):
        try:
            gold, _ = parse_api_bank_call(case["expected_output"])
        except (ValueError, SyntaxError):
            continue
        users = [line[len("User:") :].strip() for line in case["input"].splitlines() if line.startswith("User:")]
        cases.append({"query": " ".join(users[-3:]), "gold": gold, "file": case.get("file", "")})
    return cases[:limit] if limit else cases


def measure(retriever: ToolRetriever, cases: list[dict[str, Any]]) -> dict[str, Any]:
    hits = dict.fromkeys(KS, 0)
    latencies = []
    for case in cases:
        ranking = retriever.rank(case["query"], skip_sources=[case["file"]])
        latencies.append(ranking.seconds)
        position = ranking.names.index(case["gold"]) if case["gold"] in ranking.names else len(ranking.names)
        for k in KS:
            hits[k] += position < k
    latencies.sort()
    return {
        **{f"recall@{k}": round(hits[k] / len(cases), 4) for k in KS},
        "latency_ms_mean": round(1000 * statistics.fmean(latencies), 2),
        "latency_ms_p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    args = parser.parse_args()
    examples = load_examples()
    pool = load_pool(examples)
    cases = load_cases(args.limit)
    missing = sorted({c["gold"] for c in cases} - {t.name for t in pool})
    assert not missing, f"gold APIs not in the pool: {missing}"
    started = time.perf_counter()
    embedder = get_embedder(args.model)
    load_s = time.perf_counter() - started
    results: dict[str, Any] = {}
    for label, (views, fusion) in VARIANTS.items():
        built = time.perf_counter()
        retriever = ToolRetriever(pool, embedder, views=views, fusion=fusion)  # type: ignore[arg-type]
        index_s = time.perf_counter() - built
        retriever.rank("warm-up question")  # the first encode pays for lazy initialisation
        results[label] = {**measure(retriever, cases), "index_s": round(index_s, 3)}
    base = results["description"]
    for figures in results.values():
        figures["ratio_vs_description"] = {
            f"recall@{k}": round(figures[f"recall@{k}"] / base[f"recall@{k}"], 3) if base[f"recall@{k}"] else None
            for k in KS
        }
        figures["latency_ratio_vs_description"] = round(figures["latency_ms_mean"] / base["latency_ms_mean"], 3)
    load = os.getloadavg()
    print(
        f"API-Bank level-1: {len(cases)} cases, pool of {len(pool)} APIs, {sum(map(len, examples.values()))} "
        f"example questions (leave-one-dialogue-out); model load {load_s:.1f} s; load average {load[0]:.2f}"
    )
    header = f"{'views':<34}" + "".join(f"{'R@' + str(k):>8}" for k in KS) + f"{'ms/q':>9}{'p95':>8}"
    print(header)
    for label, f in results.items():
        row = "".join(f"{f[f'recall@{k}']:>8.3f}" for k in KS)
        print(f"{label:<34}{row}{f['latency_ms_mean']:>9.1f}{f['latency_ms_p95']:>8.1f}")
        ratios = " ".join(f"R@{k} x{v}" for k, v in ((k, f["ratio_vs_description"][f"recall@{k}"]) for k in KS))
        print(f"{'':<34}vs description: {ratios}; latency x{f['latency_ratio_vs_description']}")
    save_results(
        RESULTS,
        {
            "cases": len(cases),
            "pool": len(pool),
            "examples": sum(map(len, examples.values())),
            "model": args.model,
            "model_load_s": round(load_s, 2),
            "load_average": load,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
