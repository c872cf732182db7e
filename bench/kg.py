"""Knowledge-graph benchmarks: store scale, reload, neighbour lookups, ToG latency and LLM calls per question.

1. Load 1M synthetic triples (TSV) through ``kg.ingest`` and save them (goal < 30 s, peak RSS < 2 GiB), in a
   subprocess so peak RSS is the load's own.
2. Reload the persisted graph (kg/graphfile.py: JSON + int arrays) in a fresh subprocess; for comparison, a
   compact edge list (entity table + int32 arrays) rebuilt into a MultiDiGraph.
3. Neighbour-relation lookup (``graph.relations(e)``, uncached) p50/p99 at that size (goal < 1 ms).
4. A full ToG search (width 3, depth 3, worst case: never sufficient) against FakeOpenAIServer(latency=0.1),
   concurrent (max_concurrency 8) vs one call at a time (max_concurrency 1).
5. LLM calls per question on the example graph: LLM pruning vs cheap (bm25) pruning.

Wall times depend on what else runs on the machine; ``cpu_s`` (user + system CPU of the subprocess, including
interpreter start and imports) is the contention-free figure. Usage: python bench/kg.py [--triples 1000000].
Writes bench/results/kg.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchio import save_results  # bench/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "kg.json"

LOAD_SCRIPT = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from kg.ingest import load_triples
from kg.store import KnowledgeGraph
t0 = time.perf_counter()
graph = KnowledgeGraph()
report = load_triples(graph, Path(sys.argv[2]), "tsv")
t1 = time.perf_counter()
path = graph.save(Path(sys.argv[3]))
t2 = time.perf_counter()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"load_s": round(t1 - t0, 2), "save_s": round(t2 - t1, 2),
                  "cpu_s_total": round(usage.ru_utime + usage.ru_stime, 2), "added": report.added,
                  "duplicates": report.duplicates, "entities": len(graph), "triples": graph.num_triples,
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "file_mib": round(path.stat().st_size / 2**20, 1)}))
"""

RELOAD_SCRIPT = r"""
import json, random, resource, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from kg.store import KnowledgeGraph
t0, c0 = time.perf_counter(), time.process_time()
graph = KnowledgeGraph.load(Path(sys.argv[2]))
reload_s, reload_cpu = time.perf_counter() - t0, time.process_time() - c0
nodes = random.Random(1).sample(list(graph.g.nodes), min(20000, len(graph)))
times = []
for node in nodes:
    s = time.perf_counter()
    graph.relations(node)
    times.append(time.perf_counter() - s)
times.sort()
warm = []
for node in nodes[:5000]:
    s = time.perf_counter()
    graph.neighbours(node, "rel7", True)
    warm.append(time.perf_counter() - s)
warm.sort()
print(json.dumps({"reload_s": round(reload_s, 2), "reload_cpu_s": round(reload_cpu, 2),
                  "reload_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "relations_p50_ms": round(times[len(times) // 2] * 1000, 4),
                  "relations_p99_ms": round(times[int(len(times) * 0.99)] * 1000, 4),
                  "neighbours_cached_p50_ms": round(warm[len(warm) // 2] * 1000, 4)}))
"""

COMPACT_SCRIPT = r"""
import json, pickle, resource, sys, time
from array import array
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import networkx as nx
from kg.store import KnowledgeGraph
graph = KnowledgeGraph.load(Path(sys.argv[2]))
ids = {n: i for i, n in enumerate(graph.g.nodes)}
rels = {}
h, r, t = array("i"), array("i"), array("i")
for u, v, k in graph.g.edges(keys=True):
    h.append(ids[u]); r.append(rels.setdefault(k, len(rels))); t.append(ids[v])
path = Path(sys.argv[2]) / "compact.pkl"
with path.open("wb") as fh:
    pickle.dump({"nodes": list(ids), "names": [graph.g.nodes[n].get("name") for n in ids], "rels": list(rels),
                 "h": h, "r": r, "t": t}, fh, protocol=5)
del graph, ids
t0 = time.perf_counter()
with path.open("rb") as fh:
    data = pickle.load(fh)
t1 = time.perf_counter()
g = nx.MultiDiGraph()
nodes, rel_names = data["nodes"], data["rels"]
g.add_nodes_from((n, {"name": nm}) for n, nm in zip(nodes, data["names"]))
g.add_edges_from((nodes[a], nodes[c], rel_names[b], {"relation": rel_names[b]})
                 for a, b, c in zip(data["h"], data["r"], data["t"]))
t2 = time.perf_counter()
print(json.dumps({"compact_read_s": round(t1 - t0, 2), "compact_rebuild_s": round(t2 - t1, 2),
                  "compact_total_s": round(t2 - t0, 2), "compact_file_mib": round(path.stat().st_size / 2**20, 1)}))
path.unlink()
"""


def synthetic_tsv(path: Path, triples: int, seed: int = 0) -> None:
    """Power-law-ish heads and tails over triples/5 entities, 50 relations (duplicates happen, as in real data)."""
    rng = random.Random(seed)
    entities = max(triples // 5, 10)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("head\trelation\ttail\n")
        for _ in range(triples):
            h = int(entities * rng.random() ** 2)
            t = rng.randrange(entities)
            fh.write(f"Entity {h}\trel{rng.randrange(50)}\tEntity {t}\n")


def run_script(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, str(ROOT), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def tog_latency() -> dict:
    from agent.core.config import KgSettings, load_settings
    from agent.llm.hub import LLMHub
    from agent.testing.fake_openai import FakeOpenAIServer
    from kg.mode import query_graph
    from tests.kg_fixtures import Explorer, build_graph

    def tree(roots: list[str], depth: int) -> list[tuple[str, str, str]]:
        triples, level = [], list(roots)
        for d in range(depth):
            nxt = []
            for node in level:
                for r in range(3):
                    for c in range(2):
                        triples.append((node, f"rel{d}{r}", f"{node}.{r}{c}"))
                        nxt.append(f"{node}.{r}{c}")
            level = nxt
        return triples

    graph = build_graph(tree(["alpha", "beta", "gamma"], 3))
    settings_kg = KgSettings(output_format="text", link_embeddings=False)
    out = {}
    with FakeOpenAIServer(latency=0.1) as server, tempfile.TemporaryDirectory() as home:
        server.reply(Explorer(pick_all=True))
        for label, concurrency in (("concurrent", 8), ("sequential", 1)):
            config = Path(home) / f"{label}.toml"
            config.write_text(
                f'home = "{home}"\n[endpoints.fake]\nbase_url = "{server.base_url}"\n'
                f'max_concurrency = {concurrency}\n[roles.default]\nmodel = "fake-model"\n'
            )
            async with LLMHub(load_settings(config, env={})) as hub:
                started = time.perf_counter()
                result = await query_graph(
                    "How are alpha, beta and gamma related?", hub=hub, graph=graph, settings=settings_kg
                )
                out[label] = {"wall_s": round(time.perf_counter() - started, 2), "llm_calls": result.llm_calls}
    out["speedup"] = round(out["sequential"]["wall_s"] / out["concurrent"]["wall_s"], 2)
    return out


async def calls_per_question() -> dict:
    from agent.core.config import KgSettings, load_settings
    from agent.llm.hub import LLMHub
    from agent.testing.fake_openai import FakeOpenAIServer
    from kg.ingest import load_aliases, load_triples
    from kg.mode import query_graph
    from kg.store import KnowledgeGraph
    from kg.tog import call_bound
    from tests.kg_fixtures import Explorer

    graph = KnowledgeGraph()
    load_triples(graph, ROOT / "examples/graph/navigation.tsv")
    load_aliases(graph, ROOT / "examples/graph/aliases.tsv")
    items = [json.loads(line) for line in (ROOT / "examples/questions.jsonl").read_text().splitlines() if line.strip()]
    items = [q for q in items if q.get("mode") == "kg"]
    out = {}
    with FakeOpenAIServer() as server, tempfile.TemporaryDirectory() as home:
        config = Path(home) / "c.toml"
        config.write_text(
            f'home = "{home}"\n[endpoints.fake]\nbase_url = "{server.base_url}"\n'
            f'[roles.default]\nmodel = "fake-model"\n'
        )
        async with LLMHub(load_settings(config, env={})) as hub:
            for prune in ("llm", "bm25"):
                kg = KgSettings(prune=prune, output_format="text", link_embeddings=False)
                calls, worst, found = [], [], 0
                for item in items:
                    gold = [a.lower() for a in item["answers"]]
                    # the check says Yes once a gold answer is among the triples (an ideal reasoner) ...
                    server.reset()
                    server.reply(
                        Explorer(
                            pick_all=True,
                            evaluate_reply=lambda t, g=gold: (
                                "{Yes}. {x}" if any(a in t.lower() for a in g) else "{No}."
                            ),
                        )
                    )
                    result = await query_graph(item["question"], hub=hub, graph=graph, settings=kg)
                    calls.append(result.llm_calls)
                    found += result.sufficient
                    # ... and never (the worst case: full depth)
                    server.reset()
                    server.reply(Explorer(pick_all=True))
                    worst.append((await query_graph(item["question"], hub=hub, graph=graph, settings=kg)).llm_calls)
                out[prune] = {
                    "questions": len(calls),
                    "mean_calls_stop_when_gold_found": round(sum(calls) / len(calls), 2),
                    "gold_reached": found,
                    "mean_calls_never_sufficient": round(sum(worst) / len(worst), 2),
                    "max_calls": max(worst),
                    "bound": call_bound(kg),
                }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="knowledge-graph benchmarks")
    parser.add_argument("--triples", type=int, default=1_000_000)
    args = parser.parse_args()
    results: dict = {"triples": args.triples}
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "synthetic.tsv"
        started = time.perf_counter()
        synthetic_tsv(tsv, args.triples)
        print(f"generated {args.triples} triples in {time.perf_counter() - started:.1f} s", flush=True)
        store = Path(tmp) / "graph"
        results["load"] = run_script(LOAD_SCRIPT, str(tsv), str(store))
        print("load:", results["load"], flush=True)
        results["reload"] = run_script(RELOAD_SCRIPT, str(store))
        print("reload:", results["reload"], flush=True)
        results["compact_alternative"] = run_script(COMPACT_SCRIPT, str(store))
        print("compact edge list:", results["compact_alternative"], flush=True)
    results["tog_latency_100ms"] = asyncio.run(tog_latency())
    print("ToG at 100 ms/call:", results["tog_latency_100ms"], flush=True)
    results["llm_calls_per_question"] = asyncio.run(calls_per_question())
    print("LLM calls per question:", results["llm_calls_per_question"], flush=True)
    save_results(RESULTS, results)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
