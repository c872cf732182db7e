"""The graph backends side by side: networkx, oxigraph and a SPARQL endpoint (``oxigraph serve``).

Per backend, at ``--triples`` synthetic triples (bench/kg.py's generator): load time, disk, peak memory (RSS of
the loading process; for sparql the server's RSS after the run), open time (networkx: reloading its graph file,
with the old pickle format reloaded in the same run as the baseline), relation lookup p50/p99 through the store
interface (``await store.relations([e])``: the query ToG runs per entity) and ToG graph time per question (time
inside store calls during a full width-3 depth-3 search against the fake LLM server, LLM time excluded). Then
oxigraph alone at ``--large`` generated triples. Every figure is also printed as a ratio to networkx's.
Usage: python bench/kg_backends.py [--triples 1000000] [--large 10000000]. Writes bench/results/kg_backends.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchio import save_results  # bench/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "kg_backends.json"

LOAD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
backend, tsv, directory = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
t0 = time.perf_counter()
if backend == "networkx":
    from kg.ingest import load_triples
    from kg.store import KnowledgeGraph
    graph = KnowledgeGraph()
    report = load_triples(graph, tsv, "tsv")
    graph.save(directory)
else:
    from kg.stores.oxigraph import OxigraphStore
    store = OxigraphStore.open(directory, create=True)
    report = store.load_file(tsv, "tsv")
    store.store.flush()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"load_s": round(time.perf_counter() - t0, 2), "load_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                  "read": report.added, "load_peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}))
"""

QUERY = r"""
import asyncio, json, pickle, random, resource, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
backend, directory, endpoint, fake_url = sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5]
entities = int(sys.argv[6])
out = {}
from kg.store import KnowledgeGraph  # imports first: open_s times the opening alone
from kg.stores.networkx import NetworkxStore
from kg.stores.oxigraph import OxigraphStore, entity_iri
from kg.stores.sparql import SparqlStore
t0 = time.perf_counter()
if backend == "networkx":
    graph = KnowledgeGraph.load(directory)
    out["open_s"] = round(time.perf_counter() - t0, 2)
    legacy = directory / "legacy.pkl"  # the old format, written and reloaded here as the baseline
    with legacy.open("wb") as fh:
        pickle.dump({"graph": graph.g, "index": graph._index}, fh, protocol=5)
    t1 = time.perf_counter()
    with legacy.open("rb") as fh:
        pickle.load(fh)
    out["pickle_reload_s"] = round(time.perf_counter() - t1, 2)
    legacy.unlink()
    store = NetworkxStore(graph, directory)
    ident = lambda i: f"Entity {i}"
elif backend == "oxigraph":
    store = OxigraphStore.open(directory, create=False)
    out["open_s"] = round(time.perf_counter() - t0, 2)
    ident = lambda i: f"<{entity_iri(f'Entity {i}')}>"
else:
    store = SparqlStore(endpoint)
    out["open_s"] = 0.0
    ident = lambda i: f"<{entity_iri(f'Entity {i}')}>"

rng = random.Random(1)
sample = [ident(int(entities * rng.random() ** 2)) for _ in range(400)]

class Timed:
    # the store, with the time spent inside its calls added up (ToG's graph time, LLM excluded)
    def __init__(self, inner):
        self.inner, self.seconds = inner, 0.0
    def __getattr__(self, name):
        value = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(value):
            return value
        async def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await value(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        return timed

async def main():
    times = []
    for node in sample:
        s = time.perf_counter()
        await store.relations([node])
        times.append(time.perf_counter() - s)
    times.sort()
    out["relations_p50_ms"] = round(times[len(times) // 2] * 1000, 3)
    out["relations_p99_ms"] = round(times[int(len(times) * 0.99)] * 1000, 3)
    from agent.core.config import KgSettings, load_settings
    from agent.llm.hub import LLMHub
    from kg.mode import query_graph
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "c.toml"
        config.write_text(
            f'home = "{home}"\n[endpoints.fake]\nbase_url = "{fake_url}"\n[roles.default]\nmodel = "fake-model"\n'
        )
        async with LLMHub(load_settings(config, env={})) as hub:
            kg = KgSettings(output_format="text", link_embeddings=False, width=3, depth=3, link_fuzzy_cutoff=100)
            per_question, calls = [], []
            for i in (3, 17, 101, 555, 2024):
                timed = Timed(store)
                result = await query_graph(f"What is [Entity {i}] connected to?", hub=hub, graph=timed, settings=kg)
                per_question.append(timed.seconds)
                calls.append(result.llm_calls)
    out["tog_graph_ms_per_question"] = round(1000 * sum(per_question) / len(per_question), 2)
    out["tog_llm_calls_mean"] = round(sum(calls) / len(calls), 1)
    await store.aclose()

asyncio.run(main())
out["query_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def _bench_kg():
    """bench/kg.py as a module (its name would shadow the kg package on sys.path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_kg", ROOT / "bench" / "kg.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, str(ROOT), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def disk_mib(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def bench_backend(backend: str, tsv: Path, work: Path, triples: int, fake_url: str, server=None) -> dict:
    directory = work / backend / "graph"
    result: dict = {"triples": triples}
    if backend != "sparql":
        result.update(run_script(LOAD, backend, str(tsv), str(directory)))
        result["disk_mib"] = disk_mib(directory)
    endpoint = server.url if server is not None else "-"
    result.update(run_script(QUERY, backend, str(directory), endpoint, fake_url, str(max(triples // 5, 10))))
    if server is not None:
        import psutil

        result["server_rss_mib"] = round(psutil.Process(server.process.pid).memory_info().rss / 2**20, 1)
    print(f"{backend} @ {triples}: {result}", flush=True)
    return result


def ratios(results: dict, baseline: str = "networkx") -> dict:
    base = results[baseline]
    keys = (
        "load_s",
        "disk_mib",
        "load_peak_rss_mib",
        "open_s",
        "relations_p50_ms",
        "relations_p99_ms",
        "tog_graph_ms_per_question",
        "query_peak_rss_mib",
    )
    table = {}
    for name, row in results.items():
        table[name] = {k: round(row[k] / base[k], 2) for k in keys if row.get(k) and base.get(k)}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description="graph backends side by side")
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=10_000_000, help="oxigraph alone at this size (0: skip)")
    args = parser.parse_args()
    from agent.testing.fake_openai import FakeOpenAIServer
    from tests.kg.oxigraph_server import OxigraphServer
    from tests.kg_fixtures import Explorer

    synthetic_tsv = _bench_kg().synthetic_tsv  # the same generator as bench/kg.py

    results: dict = {"uptime_load": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as fake:
        fake.reply(Explorer(pick_all=True))
        work = Path(tmp)
        tsv = work / "synthetic.tsv"
        started = time.perf_counter()
        synthetic_tsv(tsv, args.triples)
        print(f"generated {args.triples} triples in {time.perf_counter() - started:.1f} s", flush=True)
        side: dict = {}
        for backend in ("networkx", "oxigraph"):
            side[backend] = bench_backend(backend, tsv, work, args.triples, fake.base_url)
        # the endpoint serves the store oxigraph just built (same data, same IRIs), as a separate process
        store_dir = work / "oxigraph" / "graph" / "oxigraph"
        server = OxigraphServer(None, store_dir)
        server.ready_timeout_s = 300
        with server:
            side["sparql"] = bench_backend("sparql", tsv, work, args.triples, fake.base_url, server)
        results["at_triples"] = side
        results["ratios_vs_networkx"] = ratios(side)
        nx_row = side["networkx"]
        results["safe_file_reload_vs_pickle"] = round(nx_row["open_s"] / nx_row["pickle_reload_s"], 2)
        print("ratios vs networkx:", json.dumps(results["ratios_vs_networkx"]), flush=True)
        print(
            f"networkx reload: safe file {nx_row['open_s']} s vs old pickle {nx_row['pickle_reload_s']} s "
            f"(x{results['safe_file_reload_vs_pickle']}, goal <= 2)",
            flush=True,
        )
        tsv.unlink()
        save_results(RESULTS, results)  # the side-by-side figures are kept even if the large run is cut short
        if args.large:
            big = work / "large.tsv"
            started = time.perf_counter()
            synthetic_tsv(big, args.large)
            print(f"generated {args.large} triples in {time.perf_counter() - started:.1f} s", flush=True)
            large = bench_backend("oxigraph", big, work / "large", args.large, fake.base_url)
            results["oxigraph_large"] = large
            small = side["oxigraph"]
            results["oxigraph_large_vs_small"] = {
                k: round(large[k] / small[k], 2) for k in large if isinstance(large.get(k), float) and small.get(k)
            }
            print("oxigraph large/small:", json.dumps(results["oxigraph_large_vs_small"]), flush=True)
    results["uptime_load_after"] = os.getloadavg()
    save_results(RESULTS, results)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
