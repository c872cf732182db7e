"""Ingest and retrieval performance: throughput vs raw encoding, query latency at 100k chunks, MAIN-RAG fan-out.

1. Ingest throughput (chunks/s, load + chunk + embed + store) on >= 2,000 chunks, as a ratio to raw
   ``SentenceTransformer.encode`` throughput on the same chunk texts in the same run (goal >= 0.8).
2. Query latency p50/p95 at 100k chunks, excluding the query embedding (goal p50 <= 30 ms). The 100k store holds
   random unit vectors (embedding 100k real chunks would take hours on 2 cores); HNSW search cost depends on
   the count and dimension, not on where the vectors came from. BM25 build/query at 100k on synthetic text too.
3. MAIN-RAG wall time on 20 documents at 100 ms simulated latency (FakeOpenAIServer latency=0.1): concurrent
   (max_concurrency 64) vs one call at a time (max_concurrency 1) (goal >= 8x faster).

    python bench/ingest.py [--data ../shared/data/rag] [--chunks 2000] [--store-size 100000]

Results: bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
from benchio import SHARED_DATA  # bench/ is the script's folder, first on sys.path

from agent.core.config import Settings
from rag.embed import get_embedder
from rag.ingest import ingest_paths
from rag.store import open_collection

RESULTS = ROOT / "bench" / "results" / "ingest.json"


def log(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# -- 1. throughput ----------------------------------------------------------------------------------------------


def corpus_rows(data: Path, limit: int) -> list[dict[str, str]]:
    """Paragraphs of the HotpotQA and MuSiQue pooled corpora (one chunk each, mostly), else the example corpus."""
    rows: list[dict[str, str]] = []
    hotpot = data / "hotpotqa_hipporag100" / "hotpotqa_train_corpus.json"
    musique = data / "musique_hipporag100" / "musique_train_corpus.json"
    if hotpot.exists():
        rows += [{"title": t, "text": "".join(s)} for t, s in json.loads(hotpot.read_text()).items()]
    if musique.exists():
        rows += [{"title": r["title"], "text": r["text"]} for r in json.loads(musique.read_text())]
    if not rows:  # no shared data: paragraphs of the example corpus, varied so the ids differ
        for path in sorted((ROOT / "examples" / "corpus").glob("*.md")):
            for _i, para in enumerate(p for p in path.read_text().split("\n\n") if len(p) > 80):
                rows.append({"title": path.stem, "text": para})
        rows = [{"title": r["title"], "text": f"{r['text']} (copy {k})"} for k in range(20) for r in rows]
    return rows[:limit]


def throughput(data: Path, target: int, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    embedder = get_embedder("all-MiniLM-L6-v2")
    load_s = time.perf_counter() - started
    rows = corpus_rows(data, target)
    path = work / "throughput.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            fh.write(json.dumps({"id": f"p{i}", **row}) + "\n")
    settings = Settings(home=work / "home-throughput")
    embedder.encode(["warm up"] * 8)

    def raw_encode(texts: list[str]) -> float:
        t0 = time.perf_counter()
        embedder.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return time.perf_counter() - t0

    report = ingest_paths([str(path)], settings, collection="throughput")
    store = open_collection(settings, "throughput")
    assert store is not None
    texts = [t for _, page in store.iter_texts() for t in page]  # exactly the chunks that were ingested
    chunks = len(texts)
    raw_s = raw_encode(texts)
    result = {
        "paragraphs": len(rows),
        "chunks": chunks,
        "model_load_s": round(load_s, 2),
        "ingest_s": report.seconds,
        "ingest_embed_s": report.embed_seconds,
        "raw_encode_s": round(raw_s, 2),
        "ingest_chunks_per_s": round(chunks / report.seconds, 1),
        "raw_encode_chunks_per_s": round(chunks / raw_s, 1),
        "ratio": round(raw_s / report.seconds, 3),
        "goal_ratio": 0.8,
    }
    t0 = time.perf_counter()
    again = ingest_paths([str(path)], settings, collection="throughput")
    result["reingest_unchanged_s"] = round(time.perf_counter() - t0, 2)
    result["reingest_added"] = again.chunks_added
    return result


# -- 2. query latency -------------------------------------------------------------------------------------------


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def query_latency(size: int, work: Path, queries: int = 200) -> dict[str, Any]:
    settings = Settings(home=work / "home-latency")
    store = open_collection(settings, "latency", create=True)
    assert store is not None
    rng = np.random.default_rng(0)
    dim = 384
    built = time.perf_counter()
    batch = 5000
    have = store.count()
    for start in range(have, size, batch):
        n = min(batch, size - start)
        ids = [f"c{start + i}" for i in range(n)]
        metas = [{"source": f"doc{(start + i) // 20}.md", "title": "t", "chunk": (start + i) % 20} for i in range(n)]
        store.add(ids, unit_vectors(rng, n, dim), [f"chunk {start + i}" for i in range(n)], metas, batch=batch)
    build_s = time.perf_counter() - built
    probes = unit_vectors(rng, queries + 10, dim)
    for q in probes[:10]:  # warm the index
        store.query(q, 10)
    search, full = [], []
    for q in probes[10:]:
        t0 = time.perf_counter()
        hits = store.query(q, 10)
        t1 = time.perf_counter()
        store.get([i for i, _ in hits])
        t2 = time.perf_counter()
        search.append((t1 - t0) * 1000)
        full.append((t2 - t0) * 1000)
    return {
        "chunks": store.count(),
        "vectors": "random unit vectors (dim 384)",
        "build_s": round(build_s, 1),
        "top_k": 10,
        "queries": queries,
        "search_ms": {"p50": round(percentile(search, 50), 2), "p95": round(percentile(search, 95), 2)},
        "search_and_fetch_ms": {"p50": round(percentile(full, 50), 2), "p95": round(percentile(full, 95), 2)},
        "goal_p50_ms": 30,
    }


def bm25_latency(size: int, queries: int = 100) -> dict[str, Any]:
    from rag.bm25 import BM25

    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(30000)]
    weights = [1 / (i + 1) for i in range(len(vocabulary))]  # Zipf-like
    texts = [" ".join(rng.choices(vocabulary, weights, k=120)) for _ in range(size)]
    t0 = time.perf_counter()
    index = BM25([f"c{i}" for i in range(size)], texts)
    build_s = time.perf_counter() - t0
    timings = []
    for _ in range(queries):
        query = " ".join(rng.choices(vocabulary, weights, k=8))
        t0 = time.perf_counter()
        index.top(query, 40)
        timings.append((time.perf_counter() - t0) * 1000)
    return {
        "chunks": size,
        "synthetic_words_per_chunk": 120,
        "build_s": round(build_s, 1),
        "query_ms": {"p50": round(percentile(timings, 50), 2), "p95": round(percentile(timings, 95), 2)},
    }


# -- 3. MAIN-RAG fan-out ----------------------------------------------------------------------------------------


async def main_rag_walltime(docs: int = 20, latency: float = 0.1) -> dict[str, Any]:
    """The fake server runs in its own process, as a real endpoint would (in-process, it would share our GIL)."""
    import subprocess

    from agent.llm.hub import LLMHub
    from rag.main_rag import RagAgents, main_rag
    from rag.retrieve import RetrievedDoc

    documents = [
        RetrievedDoc(id=f"c{i}", text=f"Document {i} mentions fact DOC{i}X.", similarity=1 - i / 40, rank=i + 1)
        for i in range(docs)
    ]
    out: dict[str, Any] = {"documents": docs, "latency_s": latency, "server": "fake_openai in a subprocess"}
    server = subprocess.Popen(
        [sys.executable, "-m", "agent.testing.fake_openai", "--port", "0", "--latency", str(latency), "--reply", "Yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=str(ROOT),
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        for label, concurrency in (("concurrent", 64), ("sequential", 1)):
            settings = Settings.model_validate(
                {
                    "home": tempfile.mkdtemp(),
                    "endpoints": {"fake": {"base_url": base_url, "max_concurrency": concurrency}},
                    "roles": {"default": {"model": "fake-model"}},
                }
            )
            async with LLMHub(settings) as hub:
                await hub.llm("judge").complete([{"role": "user", "content": "warm up"}], max_tokens=1)
                t0 = time.perf_counter()
                result = await main_rag("Which fact?", documents, RagAgents.from_hub(hub), settings.rag)
                wall = time.perf_counter() - t0
            out[label] = {"wall_s": round(wall, 3), "kept": len(result.kept), "scoring": result.scoring}
    finally:
        server.terminate()
        server.wait(timeout=10)
    out["llm_calls"] = 2 * docs + 1
    out["critical_path_s"] = round(3 * latency, 3)
    out["speedup"] = round(out["sequential"]["wall_s"] / out["concurrent"]["wall_s"], 2)
    out["goal_speedup"] = 8
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "rag")
    parser.add_argument("--chunks", type=int, default=2100, help="paragraphs to ingest for the throughput part")
    parser.add_argument("--store-size", type=int, default=100_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=("throughput", "latency", "bm25", "main_rag"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    if args.skip and args.out.exists():  # a partial run updates the parts it ran, keeps the others
        results = json.loads(args.out.read_text(encoding="utf-8"))
    results["cpu_count"] = os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="lodestar-bench-") as tmp:
        work = Path(tmp)
        if "main_rag" not in args.skip:
            results["main_rag"] = asyncio.run(main_rag_walltime())
            log(f"MAIN-RAG fan-out: {json.dumps(results['main_rag'])}")
        if "throughput" not in args.skip:
            results["throughput"] = throughput(args.data, args.chunks, work)
            log(f"ingest throughput: {json.dumps(results['throughput'])}")
        if "latency" not in args.skip:
            results["query_latency"] = query_latency(args.store_size, work)
            log(f"query latency: {json.dumps(results['query_latency'])}")
        if "bm25" not in args.skip:
            results["bm25"] = bm25_latency(args.store_size)
            log(f"BM25: {json.dumps(results['bm25'])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    log(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
