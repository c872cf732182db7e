"""A run's JSONL trace, summarised compactly for the report: what a person reads, not every byte of it.

LLM calls are totalled per role (with the failed ones listed); MAIN-RAG's score table, Think-on-Graph's beam per
depth and the loop's plans, tool calls and results are kept in order, with long texts cut. Lines are read as plain
JSON (not validated into the typed events) so a trace from a newer or older Lodestar still shows what it has.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

TEXT = 400  # characters kept of a thought, a tool output, an error
FRONTIER = 30  # entities kept of one depth's frontier
RELATIONS = 12  # scored relations kept of one depth
PATHS = 30  # kept paths of one depth


def _cut(value: Any, limit: int = TEXT) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _strs(value: Any, limit: int) -> list[str]:
    return [_cut(v, 120) for v in value[:limit]] if isinstance(value, list) else []


def is_gold(doc: dict[str, Any], gold: Collection[str]) -> bool:
    """A scored document is gold when its chunk id, title, source, the source's file name or the part of the source
    after ``#`` (a record inside a JSONL file) is one of the batch line's gold document ids."""
    source = str(doc.get("source", ""))
    path, _, record = source.partition("#")
    keys = {str(doc.get("id", "")), str(doc.get("title", "")), source, path, path.rpartition("/")[2], record} - {""}
    return bool(keys & set(gold))


def _docs(event: dict[str, Any], gold: Collection[str]) -> dict[str, Any]:
    kept = set(event.get("kept") or [])
    docs = []
    for doc in event.get("docs") or []:
        if isinstance(doc, dict):
            docs.append(
                [
                    _cut(doc.get("id", ""), 120),
                    _num(doc.get("score")),
                    _cut(doc.get("title") or "", 120),
                    _cut(doc.get("source") or "", 160),
                    int(doc.get("id") in kept),
                    int(is_gold(doc, gold)),
                ]
            )
    return {
        "k": "docs",
        "threshold": _num(event.get("threshold")),
        "n": _num(event.get("n")),
        "scoring": _cut(event.get("scoring", ""), 40),
        "docs": docs,
    }


def _path(path: Any) -> list[list[str]]:
    if not isinstance(path, list):
        return []
    return [[_cut(x, 120) for x in triple[:3]] for triple in path if isinstance(triple, list) and len(triple) >= 3]


def _kg(event: dict[str, Any]) -> dict[str, Any]:
    relations = [
        [_cut(r.get("entity", ""), 120), _cut(r.get("relation", ""), 120), _num(r.get("score"))]
        for r in (event.get("relations") or [])[:RELATIONS]
        if isinstance(r, dict)
    ]
    return {
        "k": "kg",
        "depth": int(_num(event.get("depth"))),
        "frontier": _strs(event.get("frontier"), FRONTIER),
        "relations": relations,
        "candidates": int(_num(event.get("candidates"))),
        "kept": [_path(p) for p in (event.get("kept") or [])[:PATHS]],
        "sufficient": bool(event.get("sufficient")),
    }


def summarize_events(events: list[dict[str, Any]], gold: Collection[str] = ()) -> dict[str, Any]:
    """The report's view of one trace: {"llm": {role: [calls, prompt, completion, seconds]}, "steps": [...],
    "errors": [...]} ."""
    llm: dict[str, list[float]] = {}
    steps: list[dict[str, Any]] = []
    errors: list[str] = []
    for event in events:
        kind = event.get("type")
        if kind == "llm_call":
            totals = llm.setdefault(_cut(event.get("role", "?"), 40), [0, 0, 0, 0.0])
            totals[0] += 1
            totals[1] += int(_num(event.get("prompt_tokens")))
            totals[2] += int(_num(event.get("completion_tokens")))
            totals[3] = round(totals[3] + _num(event.get("latency_s")), 4)
            if event.get("ok") is False:
                errors.append(f"LLM call ({event.get('role')}): {_cut(event.get('error') or 'failed')}")
        elif kind == "docs_scored":
            steps.append(_docs(event, gold))
        elif kind == "kg_step":
            steps.append(_kg(event))
        elif kind == "plan":
            steps.append({"k": "plan", "thought": _cut(event.get("thought", "")), "next": _cut(event.get("next"), 40)})
        elif kind == "tool_call":
            steps.append(
                {"k": "call", "name": _cut(event.get("name", ""), 80), "args": _cut(event.get("arguments") or {})}
            )
        elif kind == "tool_result":
            ok = bool(event.get("ok"))
            steps.append(
                {
                    "k": "result",
                    "name": _cut(event.get("name", ""), 80),
                    "ok": ok,
                    "out": _cut(event.get("output") if ok else event.get("error") or ""),
                    "s": _num(event.get("latency_s")),
                }
            )
        elif kind == "rewrite":
            steps.append({"k": "rewrite", "text": _cut(event.get("standalone", ""))})
        elif kind == "run_end" and event.get("ok") is False:
            errors.append(_cut(event.get("error") or "the run failed"))
    return {"llm": llm, "steps": steps, "errors": errors}


def read_trace_summary(path: Path, gold: Collection[str] = ()) -> dict[str, Any]:
    """Summarise the trace at ``path``; a missing or unreadable file becomes ``{"note": why}``, shown in its place."""
    try:
        data = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"note": f"trace not found: {path}"}
    except (OSError, UnicodeDecodeError) as exc:
        return {"note": f"trace unreadable: {path}: {getattr(exc, 'strerror', None) or exc}"}
    events: list[dict[str, Any]] = []
    bad: list[int] = []
    lines = [line for line in data.splitlines() if line.strip()]
    try:  # one parse for the whole file (a tenth of the time at 10,000 traces); line by line when it fails
        whole = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        whole = None
    if isinstance(whole, list) and len(whole) == len(lines) and all(isinstance(e, dict) for e in whole):
        return summarize_events(whole, gold)
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            bad.append(number)
            continue
        if isinstance(event, dict):
            events.append(event)
        else:
            bad.append(number)
    summary = summarize_events(events, gold)
    if bad:
        summary["note"] = f"{len(bad)} unreadable line(s) in {path.name} (first: line {bad[0]})"
    return summary
