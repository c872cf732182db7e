"""Think-on-Graph quality on MetaQA questions over a PARTIAL WikiMovies KB, with the bundled SmolLM2-135M model.

Data: ../shared/data/kg/metaqa next to the checkout, or $METAQA_DIR (see its SOURCE.md). Only questions whose gold
answers equal a traversal of the question's relation path over the partial KB are used (the check file's column 4),
so every question is answerable from the graph. These are NOT MetaQA numbers: the KB is partial and the sample small.

Metrics per configuration (LLM pruning vs cheap pruning):
- Hits@1: the model's answer (the ``{…}`` it gave, else its first line) matches a gold answer under ToG's EM rule
  (lower-case, spaces removed, substring either way);
- exact@1: the same, but equality after normalisation;
- gold in paths: some gold answer is an entity of the triples the search kept (retrieval, independent of the
  tiny model's answering);
- LLM calls, seconds per question, fallbacks, topic-entity linking accuracy.

Usage: python bench/kg_quality.py [--n 20] [--configs llm,bm25] [--width 2 --depth 2 --max-tokens 96]
Starts the embedded llama.cpp server itself (agent.llm.local_server, through LLMHub).
Writes bench/results/kg_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchio import SHARED_DATA  # bench/ is the script's folder, first on sys.path

from agent.core.config import KgSettings, Settings
from agent.core.trace import Trace
from agent.llm.hub import LLMHub
from kg.mode import query_graph
from kg.store import KnowledgeGraph, normalize

DATA = Path(os.environ.get("METAQA_DIR", SHARED_DATA / "kg" / "metaqa"))
RESULTS = Path(__file__).resolve().parent / "results" / "kg_quality.json"


def load_kb(path: Path = DATA / "kb_partial_keallm.txt.gz") -> KnowledgeGraph:
    graph = KnowledgeGraph()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("|")
            if len(parts) == 3 and all(parts):
                h, r, t = parts
                graph.add_triple(h, r, t, h, t)
    graph.touch()
    return graph


def answerable(hop: int) -> list[dict]:
    """The sample's questions the partial KB can answer (check file column 4 == 1), in file order."""
    with (DATA / "sample500_partial_kb_check.tsv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["hop"] == str(hop)]
    questions = (DATA / f"qa_test_{hop}hop_sample500.txt").read_text(encoding="utf-8").splitlines()
    qtypes = (DATA / f"qa_test_{hop}hop_sample500_qtype.txt").read_text(encoding="utf-8").splitlines()
    items = []
    for row, line, qtype in zip(rows, questions, qtypes, strict=True):
        if row["gold_equals_traversal_excl_topic"] != "1":
            continue
        question, gold = line.split("\t")
        topic = re.search(r"\[([^\]]+)\]", question).group(1)
        items.append({"hop": hop, "question": question, "topic": topic, "gold": gold.split("|"), "qtype": qtype})
    return items


def _tog_em(prediction: str, gold: list[str]) -> bool:
    pred = prediction.lower().replace(" ", "")
    if len(pred) < 2:
        return False
    return any((g := ans.lower().replace(" ", "")) and (g in pred or pred in g) for ans in gold)


def score(result, item: dict) -> dict:
    text = result.short_answer or (result.answer.strip().splitlines() or [""])[0]
    gold_norm = {normalize(g) for g in item["gold"]}
    kept = {normalize(x) for c in result.citations for x in (c.id.split("|")[0], c.id.split("|")[2])}
    return {
        "hit": _tog_em(text, item["gold"]),
        "exact": normalize(text) in gold_norm,
        "gold_in_paths": bool(gold_norm & (kept - {normalize(item["topic"])})),
        "linked": bool(result.topic_entities) and normalize(result.topic_entities[0].name) == normalize(item["topic"]),
    }


async def run_config(hub: LLMHub, graph: KnowledgeGraph, items: list[dict], kg: KgSettings, label: str) -> dict:
    rows = []
    for i, item in enumerate(items, 1):
        trace = Trace()
        started = time.perf_counter()
        try:
            result = await query_graph(item["question"], hub=hub, graph=graph, settings=kg, trace=trace)
        except Exception as exc:  # a bench keeps going; the error is counted and shown
            rows.append(
                {**item, "error": f"{type(exc).__name__}: {exc}"[:300], "seconds": time.perf_counter() - started}
            )
            print(f"[{label}] {i}/{len(items)} ERROR {exc}", flush=True)
            continue
        seconds = time.perf_counter() - started
        row = {
            **item,
            **score(result, item),
            "answer": result.answer[:300],
            "short": result.short_answer,
            "llm_calls": result.llm_calls,
            "fallback": result.fallback,
            "depth": result.depth,
            "seconds": round(seconds, 2),
            "paths": [[t.as_list() for t in p] for p in result.paths][:6],
        }
        rows.append(row)
        print(
            f"[{label}] {i}/{len(items)} hop{item['hop']} hit={row['hit']} gold_in_paths={row['gold_in_paths']} "
            f"calls={row['llm_calls']} {seconds:.1f}s fallback={row['fallback']} answer={row['short']!r}",
            flush=True,
        )
    return {"label": label, "settings": kg.model_dump(), "summary": summarize(rows), "rows": rows}


def summarize(rows: list[dict]) -> dict:
    out = {}
    for hop in sorted({r["hop"] for r in rows}) + ["all"]:
        part = [r for r in rows if hop == "all" or r["hop"] == hop]
        ok = [r for r in part if "error" not in r]
        if not part:
            continue
        n = len(part)
        out[f"hop{hop}" if hop != "all" else "all"] = {
            "n": n,
            "errors": n - len(ok),
            "hits@1": round(sum(r["hit"] for r in ok) / n, 3),
            "exact@1": round(sum(r["exact"] for r in ok) / n, 3),
            "gold_in_paths": round(sum(r["gold_in_paths"] for r in ok) / n, 3),
            "linked": round(sum(r["linked"] for r in ok) / n, 3),
            "llm_calls_mean": round(sum(r["llm_calls"] for r in ok) / max(len(ok), 1), 2),
            "seconds_mean": round(sum(r["seconds"] for r in ok) / max(len(ok), 1), 1),
            "fallbacks": dict(Counter(r["fallback"] for r in ok)),
        }
    return out


def _previous(args: argparse.Namespace) -> list[dict]:
    """Configurations already measured on the same sample (so one can be re-run without the others)."""
    try:
        old = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if old.get("questions_per_hop") != args.n or old.get("sample_seed", 7) != args.seed:
        return []
    return [
        c
        for c in old.get("configs", [])
        if c["settings"]["width"] == args.width and c["settings"]["depth"] == args.depth
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="questions per hop")
    parser.add_argument(
        "--configs",
        default="llm,bm25",
        help="comma-separated prune settings (llm, bm25, embedding), each optionally with "
        "':entity' for backtrack = entity, e.g. bm25:entity",
    )
    parser.add_argument("--width", type=int, default=2)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--output-format", default="auto", choices=("auto", "text", "json"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    graph = load_kb()
    load_s = time.perf_counter() - started
    print(f"KB: {len(graph)} entities, {graph.num_triples} triples, loaded in {load_s:.1f} s", flush=True)
    rng = random.Random(args.seed)
    items = []
    for hop in (1, 2):
        pool = answerable(hop)
        items += rng.sample(pool, min(args.n, len(pool)))
    print(f"questions: {len(items)} ({args.n} per hop, answerable rows only)", flush=True)

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))  # no endpoint: the hub starts the embedded llama.cpp server
        async with LLMHub(settings) as hub:
            await hub.probe_all(("explorer",))
            caps = await hub.capabilities("explorer")
            print(f"local model: json_schema={caps.json_schema}, streaming={caps.streaming}", flush=True)
            results = _previous(args)
            for label in args.configs.split(","):
                prune, _, backtrack = label.partition(":")
                kg = KgSettings(
                    width=args.width,
                    depth=args.depth,
                    max_tokens=args.max_tokens,
                    prune=prune,
                    output_format=args.output_format,
                    link_embeddings=False,
                    max_topic_entities=1,
                    backtrack=backtrack or "relation",
                )
                t0 = time.perf_counter()
                outcome = await run_config(hub, graph, items, kg, label)
                outcome["wall_s"] = round(time.perf_counter() - t0, 1)
                results = [r for r in results if r["label"] != label] + [outcome]
                print(json.dumps({label: outcome["summary"]}, indent=1), flush=True)
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                RESULTS.write_text(
                    json.dumps(
                        {
                            "note": "MetaQA 1/2-hop sample over a PARTIAL WikiMovies KB; answerable rows only; "
                            "bundled SmolLM2-135M; not comparable to published MetaQA numbers",
                            "model": "smollm2-135m-instruct (llama.cpp, bundled)",
                            "json_schema": caps.json_schema,
                            "kb": {"entities": len(graph), "triples": graph.num_triples, "load_s": round(load_s, 2)},
                            "questions_per_hop": args.n,
                            "sample_seed": args.seed,
                            "configs": results,
                        },
                        indent=1,
                    ),
                    encoding="utf-8",
                )
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
