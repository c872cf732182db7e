"""``lodestar report ANSWERS.jsonl [B.jsonl] [-o report.html]``: one self-contained HTML file about a batch.

The page holds the summary metrics overall and per mode (the batch summary's own numbers, from
:class:`agent.batch.metrics.Scoreboard`), histograms of latency, LLM calls and tokens per question, a table of the
questions (filter, sort, search) and each question's trace. With a second answers file it compares the runs: metric
deltas, and per question wins and losses of B against A.

Everything from the answers and traces is untrusted text. Python escapes what it writes into HTML; the questions
and traces travel as one JSON blob whose ``<``, ``>`` and ``&`` are \\u-escaped (so it cannot close its script
element), and the page's script builds every node with ``textContent``, never ``innerHTML``. A Content Security
Policy allows only the page's own script and style (by hash) and no connection at all, so even a mistake here could
neither run injected script nor reach the network. The table renders only the rows in view, so 10,000 questions
open as fast as 100.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from agent.batch.metrics import METRICS, USAGE, Scoreboard
from agent.batch.runner import json_problem, read_input
from agent.core.errors import BadInputError, LodestarError
from ui.report.charts import histogram
from ui.report.traces import read_trace_summary

ANSWER_CHARS = 2000  # an answer longer than this is cut in the report (the answers file keeps it whole)
GOLD_FIELDS = ("gold_docs", "supporting")  # a batch line's gold document ids, under either name


@dataclass
class Run:
    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def summary(self) -> dict[str, Any]:
        board = Scoreboard()
        for record in self.records:
            board.add(record)
        return board.summary()


def read_answers(path: Path) -> Run:
    """Every line of an answers file; a missing file or a malformed line is one BadInputError naming its line."""
    data = read_input(path)
    run = Run(path)
    bad: list[tuple[int, str]] = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            bad.append((number, "not UTF-8 text"))
            continue
        except json.JSONDecodeError as exc:
            bad.append((number, json_problem(exc)))
            continue
        if not isinstance(record, dict) or "id" not in record:
            bad.append((number, "not an answer line (a JSON object with an id)"))
            continue
        run.records.append(record)
    if bad:
        number, reason = bad[0]
        more = f" (and {len(bad) - 1} more malformed line(s))" if len(bad) > 1 else ""
        raise BadInputError(f"{path}:{number}: {reason}{more}")
    if not run.records:
        raise BadInputError(f"{path}: no answer lines")
    return run


# -- the data blob ----------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any, limit: int = ANSWER_CHARS) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _gold_docs(record: dict[str, Any]) -> list[str]:
    for name in GOLD_FIELDS:
        value = record.get(name)
        if isinstance(value, list):
            return [str(v) for v in value]
    return []


def _row(record: dict[str, Any], traces: list[dict[str, Any]], base: Path) -> dict[str, Any]:
    """One question as the page's script reads it (short keys: 10,000 of these make the file)."""
    usage = record["usage"] if isinstance(record.get("usage"), dict) else {}
    calls = _num(usage.get("llm_calls")) or 0
    tokens = (_num(usage.get("prompt_tokens")) or 0) + (_num(usage.get("completion_tokens")) or 0)
    answers = record.get("answers")
    row: dict[str, Any] = {
        "id": _text(record.get("id"), 200),
        "q": _text(record.get("question")),
        "a": _text(record.get("answer")),
        "g": [_text(a, 500) for a in answers] if isinstance(answers, list) else None,
        "m": _text(record.get("mode"), 40),
        "lat": _num(record.get("latency_s")) or 0.0,
        "calls": int(calls),
        "tok": int(tokens),
    }
    for name in METRICS:
        if (value := _num(record.get(name))) is not None:
            row[name] = value
    if record.get("error"):
        row["err"] = _text(record.get("error"), 600)
    trace_file = record.get("trace_file")
    if isinstance(trace_file, str) and trace_file:
        path = Path(trace_file)
        if not path.is_absolute():
            path = base / path
        traces.append(read_trace_summary(path, _gold_docs(record)))
        row["t"] = len(traces) - 1
    else:
        traces.append({"note": "this answer line names no trace file"})
        row["t"] = len(traces) - 1
    return row


def _outcome(a: dict[str, Any], b: dict[str, Any]) -> str:
    """B against A: "win", "loss" or "tie" — an error loses, then F1 decides, then EM."""
    a_err, b_err = "err" in a, "err" in b
    if a_err or b_err:
        return "tie" if a_err and b_err else ("loss" if b_err else "win")
    for name in ("f1", "em", "accuracy"):
        if name in a and name in b and a[name] != b[name]:
            return "win" if b[name] > a[name] else "loss"
    return "tie"


def build_data(runs: list[Run]) -> dict[str, Any]:
    traces: list[dict[str, Any]] = []
    first = runs[0]
    rows = [_row(r, traces, first.path.parent) for r in first.records]
    data: dict[str, Any] = {"runs": [r.name for r in runs], "rows": rows, "traces": traces}
    if len(runs) == 2:
        by_id = {row["id"]: row for row in rows}
        other = {}
        for record in runs[1].records:
            row = _row(record, traces, runs[1].path.parent)
            other[row["id"]] = row
        for row in rows:
            if row["id"] in other:
                row["b"] = other[row["id"]]
                row["o"] = _outcome(row, row["b"])
            else:
                row["o"] = "only A"
        for key, row in other.items():
            if key not in by_id:
                rows.append({"id": key, "q": row["q"], "g": row["g"], "m": row["m"], "b": row, "o": "only B"})
    return data


# -- the HTML ---------------------------------------------------------------------------------------------------

SHOWN = ("total", "answered", "errors", "scored", *METRICS, *USAGE)
LABELS = {"accuracy": "acc", "hits_at_1": "Hits@1", "llm_calls": "LLM calls", "prompt_tokens": "prompt tok"}


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def summary_table(summary: dict[str, Any], run: str) -> str:
    """Overall and per mode, one row each; each cell carries data-run/data-mode/data-metric for tests and tools."""
    head = "".join(f"<th>{escape(LABELS.get(k, k.replace('_', ' ')))}</th>" for k in SHOWN)
    rows = [("overall", summary), *summary["by_mode"].items()]
    body = []
    for mode, values in rows:
        cells = "".join(
            f'<td data-run="{escape(run, quote=True)}" data-mode="{escape(mode, quote=True)}" '
            f'data-metric="{k}">{escape(_cell(values.get(k)))}</td>'
            for k in SHOWN
        )
        body.append(f"<tr><th>{escape(mode or '(none)')}</th>{cells}</tr>")
    return f'<table class="summary"><thead><tr><th>mode</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def delta_table(a: dict[str, Any], b: dict[str, Any], outcomes: dict[str, int]) -> str:
    metrics = [k for k in (*METRICS, *USAGE) if a.get(k) is not None or b.get(k) is not None]
    rows = []
    for k in metrics:
        va, vb = a.get(k), b.get(k)
        delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
        sign = "" if delta is None or k in USAGE else ("up" if delta > 0 else "down" if delta < 0 else "same")
        shown = "—" if delta is None else (f"{delta:+.4f}" if isinstance(delta, float) else f"{delta:+d}")
        rows.append(
            f"<tr><th>{escape(LABELS.get(k, k))}</th><td>{escape(_cell(va))}</td><td>{escape(_cell(vb))}</td>"
            f'<td class="{sign}" data-delta="{k}">{escape(shown)}</td></tr>'
        )
    counts = " · ".join(f'<span data-outcome="{escape(k)}">{escape(k)}: {n}</span>' for k, n in outcomes.items())
    return (
        f'<p class="outcomes">B against A — {counts}</p><table class="summary delta"><thead><tr><th>metric</th>'
        f"<th>A</th><th>B</th><th>B − A</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def charts(rows: list[dict[str, Any]]) -> str:
    return "".join(
        [
            histogram("latency per question", [r["lat"] for r in rows], " s"),
            histogram("LLM calls per question", [r["calls"] for r in rows], integer=True),
            histogram("tokens per question", [r["tok"] for r in rows], integer=True),
        ]
    )


def _blob(data: dict[str, Any]) -> str:
    """JSON that cannot end its <script> element or open a comment, whatever the strings hold."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def _template() -> tuple[str, str, str]:
    folder = resources.files("ui.report")
    page = (folder / "template.html").read_text(encoding="utf-8")
    return page, (folder / "report.css").read_text(encoding="utf-8"), (folder / "report.js").read_text(encoding="utf-8")


_SLOT = re.compile(r"@@([A-Z]+)@@")


def render(runs: list[Run]) -> str:
    data = build_data(runs)
    page, css, script = _template()
    summaries = [run.summary() for run in runs]
    sections = []
    for run, summary in zip(runs, summaries, strict=True):
        label = "A" if len(runs) == 2 and run is runs[0] else "B" if len(runs) == 2 else "run"
        heading = f"<h2>{escape(label)}: {escape(run.name)}</h2>"
        sections.append(f'<section class="run">{heading}{summary_table(summary, label)}</section>')
    if len(runs) == 2:
        outcomes = {k: 0 for k in ("win", "loss", "tie", "only A", "only B")}
        for row in data["rows"]:
            outcomes[row["o"]] += 1
        sections.append(
            f'<section class="compare"><h2>B − A</h2>{delta_table(summaries[0], summaries[1], outcomes)}</section>'
        )
    own = [r for r in data["rows"] if r.get("o") != "only B"]
    chart_rows = [own, [r["b"] for r in data["rows"] if "b" in r]] if len(runs) == 2 else [own]
    figures = "".join(
        f'<div class="charts"><h3>{escape(run.name)}</h3>{charts(rows)}</div>'
        for run, rows in zip(runs, chart_rows, strict=True)
    )
    title = " vs ".join(run.name for run in runs)
    slots = {
        "TITLE": escape(f"Lodestar report: {title}"),
        "CSP": f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(css)}; img-src data:",
        "CSS": css,
        "SUMMARY": "".join(sections),
        "CHARTS": figures,
        "GENERATED": escape(time.strftime("%Y-%m-%d %H:%M:%S %Z")),
        "COUNT": str(len(data["rows"])),
        "DATA": _blob(data),
        "SCRIPT": script,
    }
    return _SLOT.sub(lambda m: slots[m.group(1)], page)  # one pass: inserted text is never scanned for slots


def build_report(inputs: list[Path], output: Path) -> Path:
    if not 1 <= len(inputs) <= 2:
        raise BadInputError("give one answers file, or two to compare")
    runs = [read_answers(path) for path in inputs]
    html = render(runs)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise LodestarError(f"{output}: cannot write: {exc.strerror or exc}") from None
    return output
