"""RAG quality on real multi-hop data (HotpotQA and MuSiQue samples with supporting-paragraph flags).

Part 1, retrieval: each dataset's pooled corpus is ingested as JSONL (one paragraph a line, with its title) and
we measure recall@k of the supporting paragraphs for vector search and for hybrid BM25 + vector (RRF).

Part 2, MAIN-RAG with the bundled SmolLM2-135M on the embedded llama.cpp server (slow: keep it bounded): for N
questions, the top-K retrieved paragraphs go to
  - plain RAG (Agent-3 over all K documents, retrieval order),
  - MAIN-RAG as specified (judge log-odds, τ = mean, n = 0),
  - MAIN-RAG with score_mix = W (z(judge) mixed with z(retrieval cosine); same judge calls, re-selected),
and we report the filter's precision/recall against the supporting flags, the AUC of judge scores and of
cosine similarity for separating supporting from other paragraphs, and answer EM / F1 / match (gold contained).

    python bench/rag_quality.py                      # both parts, 16 questions x 5 documents
    python bench/rag_quality.py --retrieval-only
    python bench/rag_quality.py --questions 4 --docs 3 --data tests/data/rag   # quick smoke run

Results: bench/results/rag_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import string
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchio import SHARED_DATA  # bench/ is the script's folder, first on sys.path

from agent.core.config import Settings
from rag.ingest import ingest_paths
from rag.retrieve import retrieve_sync

DEFAULT_DATA = SHARED_DATA / "rag"
RESULTS = ROOT / "bench" / "results" / "rag_quality.json"
KS = (2, 5, 10)


# -- data -------------------------------------------------------------------------------------------------------


def paragraph_id(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\0{text}".encode()).hexdigest()[:16]


def load_hotpot(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(questions with supporting ids and all their paragraph ids, corpus rows)."""
    questions_raw = json.loads((folder / "hotpotqa_train.json").read_text())
    corpus_raw = json.loads((folder / "hotpotqa_train_corpus.json").read_text())
    corpus = [{"id": paragraph_id(t, "".join(s)), "title": t, "text": "".join(s)} for t, s in corpus_raw.items()]
    by_title = {row["title"]: row["id"] for row in corpus}
    questions = []
    for q in questions_raw:
        supporting = {title for title, _ in q["supporting_facts"]}
        questions.append(
            {
                "id": q["_id"],
                "question": q["question"],
                "answers": [q["answer"]],
                "supporting": sorted(by_title[t] for t in supporting if t in by_title),
            }
        )
    return questions, corpus


def load_musique(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    questions_raw = json.loads((folder / "musique_train.json").read_text())
    corpus_raw = json.loads((folder / "musique_train_corpus.json").read_text())
    seen: set[str] = set()
    corpus = []
    for row in corpus_raw:
        pid = paragraph_id(row["title"], row["text"])
        if pid not in seen:
            seen.add(pid)
            corpus.append({"id": pid, "title": row["title"], "text": row["text"]})
    questions = []
    for q in questions_raw:
        supporting = [paragraph_id(p["title"], p["paragraph_text"]) for p in q["paragraphs"] if p["is_supporting"]]
        questions.append(
            {
                "id": q["id"],
                "question": q["question"],
                "answers": [q["answer"], *q.get("answer_aliases", [])],
                "supporting": sorted(p for p in supporting if p in seen),
            }
        )
    return questions, corpus


DATASETS = {"hotpotqa": ("hotpotqa_hipporag100", load_hotpot), "musique": ("musique_hipporag100", load_musique)}


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({"id": row["id"], "title": row["title"], "text": row["text"]}) + "\n")


# -- metrics ----------------------------------------------------------------------------------------------------


def normalize(text: str) -> str:
    text = re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", " ", text.lower())
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: list[str]) -> float:
    return float(any(normalize(prediction) == normalize(a) for a in answers))


def f1(prediction: str, answers: list[str]) -> float:
    best = 0.0
    pred = normalize(prediction).split()
    for answer in answers:
        gold = normalize(answer).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        if same:
            p, r = same / len(pred), same / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def match(prediction: str, answers: list[str]) -> float:
    """Gold answer contained in the prediction (the 'accuracy' of Self-RAG/MAIN-RAG's PopQA/TriviaQA)."""
    pred = f" {normalize(prediction)} "
    return float(any(normalize(a) and f" {normalize(a)} " in pred for a in answers))


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=False) if y]
    neg = [s for s, y in zip(scores, labels, strict=False) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 4)


def mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


# -- part 1: retrieval ------------------------------------------------------------------------------------------


def build_index(name: str, corpus: list[dict[str, Any]], settings: Settings, work: Path) -> dict[str, Any]:
    path = work / f"{name}_corpus.jsonl"
    write_jsonl(corpus, path)
    report = ingest_paths([str(path)], settings, collection=name)
    return {
        "paragraphs": len(corpus),
        "chunks_added": report.chunks_added,
        "chunks_unchanged": report.chunks_unchanged,
        "seconds": report.seconds,
    }


def retrieval_recall(name: str, questions: list[dict[str, Any]], settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, hybrid in (("vector", False), ("hybrid", True)):
        recalls: dict[int, list[float]] = {k: [] for k in KS}
        full: dict[int, list[float]] = {k: [] for k in KS}
        started = time.perf_counter()
        for q in questions:
            if not q["supporting"]:
                continue
            docs = retrieve_sync(q["question"], settings, top_k=max(KS), collection=name, hybrid=hybrid)
            ranked = [d.metadata.get("doc") for d in docs]
            for k in KS:
                found = set(ranked[:k]) & set(q["supporting"])
                recalls[k].append(len(found) / len(q["supporting"]))
                full[k].append(float(len(found) == len(q["supporting"])))
        out[mode] = {
            **{f"recall@{k}": mean(recalls[k]) for k in KS},
            **{f"all_supporting@{k}": mean(full[k]) for k in KS},
            "questions": len(recalls[KS[0]]),
            "ms_per_query": round(1000 * (time.perf_counter() - started) / max(1, len(questions)), 1),
        }
    return out


# -- part 2: MAIN-RAG with the bundled model --------------------------------------------------------------------


async def llm_part(
    picked: list[tuple[str, dict[str, Any]]],
    settings: Settings,
    docs_per_question: int,
    mix_weight: float,
    log: Any,
    *,
    deadline: float | None = None,
    checkpoint: Any = None,
) -> dict[str, Any]:
    from agent.llm.hub import LLMHub
    from rag.main_rag import RagAgents, answer_from, mix_scores, score_documents, select

    rows: list[dict[str, Any]] = []
    async with LLMHub(settings) as hub:
        caps = await hub.capabilities("judge")
        agents = RagAgents.from_hub(hub)
        rag = settings.rag
        for n, (dataset, q) in enumerate(picked, 1):
            if deadline is not None and time.monotonic() > deadline:
                log(f"time budget spent: stopping after {n - 1} questions")
                break
            started = time.perf_counter()
            docs = retrieve_sync(q["question"], settings, top_k=docs_per_question, collection=dataset)
            supporting = set(q["supporting"])
            labels = [d.metadata.get("doc") in supporting for d in docs]
            plain = await answer_from(agents.final, q["question"], docs, max_tokens=rag.final_max_tokens)
            judged = await score_documents(
                q["question"], docs, agents, rag, predictor_max_tokens=rag.predictor_max_tokens
            )
            variants: dict[str, Any] = {}
            for label, weight in (("main_rag", 0.0), (f"main_rag_mix{mix_weight:g}", mix_weight)):
                for j, value in zip(
                    judged,
                    mix_scores([j.judge_score for j in judged], [j.doc.similarity for j in judged], weight),
                    strict=False,
                ):
                    j.score = value
                threshold, kept, used_all = select(judged, rag.n)
                answer = await answer_from(
                    agents.final, q["question"], [j.doc for j in kept], max_tokens=rag.final_max_tokens
                )
                kept_ids = [j.doc.metadata.get("doc") for j in kept]
                variants[label] = {
                    "answer": answer.strip(),
                    "kept": kept_ids,
                    "used_all": used_all,
                    "threshold": round(threshold, 4),
                }
            row = {
                "dataset": dataset,
                "id": q["id"],
                "question": q["question"],
                "answers": q["answers"],
                "docs": [d.metadata.get("doc") for d in docs],
                "supporting_in_docs": sum(labels),
                "labels": labels,
                "similarity": [round(d.similarity, 4) for d in docs],
                "judge_scores": [round(j.judge_score, 4) for j in judged],
                "methods": sorted({j.method for j in judged}),
                "predictions": [j.prediction for j in judged],
                "plain_rag": {"answer": plain.strip()},
                **variants,
                "seconds": round(time.perf_counter() - started, 1),
            }
            rows.append(row)
            log(
                f"[{n}/{len(picked)}] {dataset} {row['seconds']} s  gold={q['answers'][0]!r}  "
                f"plain={plain.strip()[:60]!r}  kept={len(variants['main_rag']['kept'])}/{len(docs)}"
            )
            if checkpoint is not None:
                checkpoint({"summary": summarize(rows, mix_weight), "rows": rows, "partial": True})
    summary = summarize(rows, mix_weight)
    summary["judge_capabilities"] = {"logprobs": caps.logprobs}
    return {"summary": summary, "rows": rows}


def summarize(rows: list[dict[str, Any]], mix_weight: float) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(rows)}
    variants = ["plain_rag", "main_rag", f"main_rag_mix{mix_weight:g}"]
    for variant in variants:
        answers = [(r[variant]["answer"], r["answers"]) for r in rows]
        entry: dict[str, Any] = {
            "em": mean([exact_match(a, g) for a, g in answers]),
            "f1": mean([f1(a, g) for a, g in answers]),
            "match": mean([match(a, g) for a, g in answers]),
        }
        if variant == "plain_rag":
            entry["filter_precision"] = mean([r["supporting_in_docs"] / len(r["docs"]) for r in rows if r["docs"]])
            entry["filter_recall"] = 1.0
            entry["docs_given"] = mean([float(len(r["docs"])) for r in rows])
        else:
            precision, recall = [], []
            for r in rows:
                kept = set(r[variant]["kept"])
                gold = {d for d, y in zip(r["docs"], r["labels"], strict=False) if y}
                if kept:
                    precision.append(len(kept & gold) / len(kept))
                if gold:
                    recall.append(len(kept & gold) / len(gold))
            entry["filter_precision"] = mean(precision)
            entry["filter_recall"] = mean(recall)
            entry["docs_given"] = mean([float(len(r[variant]["kept"])) for r in rows])
        out[variant] = entry
    labels = [y for r in rows for y in r["labels"]]
    out["auc_judge"] = auc([s for r in rows for s in r["judge_scores"]], labels)
    out["auc_similarity"] = auc([s for r in rows for s in r["similarity"]], labels)
    out["judge_methods"] = sorted({m for r in rows for m in r["methods"]})
    out["mean_seconds_per_question"] = mean([r["seconds"] for r in rows])
    return out


def pick_questions(data: dict[str, list[dict[str, Any]]], count: int) -> list[tuple[str, dict[str, Any]]]:
    """The first questions of each dataset, alternating, skipping ones without supporting paragraphs."""
    pools = {name: [q for q in qs if q["supporting"]] for name, qs in data.items()}
    picked: list[tuple[str, dict[str, Any]]] = []
    i = 0
    while len(picked) < count and any(i < len(p) for p in pools.values()):
        for name, pool in pools.items():
            if i < len(pool) and len(picked) < count:
                picked.append((name, pool[i]))
        i += 1
    return picked


# -- main -------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the two dataset folders")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "lodestar-bench-quality",
        help="data home for the indexes (reused between runs: re-ingest is idempotent)",
    )
    parser.add_argument("--questions", type=int, default=16)
    parser.add_argument("--docs", type=int, default=5, help="retrieved documents per question for part 2")
    parser.add_argument("--mix", type=float, default=0.5, help="score_mix weight of the variant")
    parser.add_argument("--retrieval-only", action="store_true")
    parser.add_argument(
        "--hybrid",
        choices=("default", "on", "off"),
        default="default",
        help="retrieval used in part 2 (default: the RagSettings default)",
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="stop part 2 after this much time")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    began = time.monotonic()

    def log(message: str) -> None:
        print(message, flush=True)

    def save(payload: dict[str, Any]) -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")

    settings = Settings(home=args.work / "home")
    if args.hybrid != "default":
        settings = settings.model_copy(update={"rag": settings.rag.model_copy(update={"hybrid": args.hybrid == "on"})})
    data: dict[str, list[dict[str, Any]]] = {}
    result: dict[str, Any] = {"data": str(args.data), "retrieval": {}, "index": {}}
    for name, (folder, loader) in DATASETS.items():
        questions, corpus = loader(args.data / folder)
        data[name] = questions
        log(f"{name}: {len(questions)} questions, {len(corpus)} paragraphs; indexing …")
        result["index"][name] = build_index(name, corpus, settings, args.work)
        result["retrieval"][name] = retrieval_recall(name, questions, settings)
        log(f"  retrieval {json.dumps(result['retrieval'][name])}")
    if not args.retrieval_only:
        from agent.llm.local_server import LocalServer

        picked = pick_questions(data, args.questions)
        log(f"part 2: {len(picked)} questions x {args.docs} documents on the bundled SmolLM2-135M …")

        async def run() -> dict[str, Any]:
            async with LocalServer(log_path=args.work / "llama.log") as url:
                llm_settings = Settings.model_validate(
                    {
                        "home": str(args.work / "home"),
                        "endpoints": {"llama": {"base_url": url, "max_concurrency": 1, "read_timeout_s": 600}},
                        "roles": {"default": {"model": "smollm2-135m-instruct", "max_tokens": 64}},
                        "rag": {**settings.rag.model_dump(), "predictor_max_tokens": 32, "final_max_tokens": 48},
                    }
                )

                def checkpoint(partial: dict[str, Any]) -> None:
                    save({**result, "llm": partial})

                deadline = began + 60 * args.max_minutes if args.max_minutes else None
                return await llm_part(
                    picked, llm_settings, args.docs, args.mix, log, deadline=deadline, checkpoint=checkpoint
                )

        result["llm"] = asyncio.run(run())
        result["llm"]["settings"] = {
            "questions": len(picked),
            "docs": args.docs,
            "mix": args.mix,
            "hybrid": settings.rag.hybrid,
            "model": "SmolLM2-135M-Instruct (llama.cpp)",
        }
        log(json.dumps(result["llm"]["summary"], indent=2))
    save(result)
    log(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
