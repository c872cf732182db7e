"""Step-level tool-use metrics as α-UMi computes them, and readers for API-Bank cases.

α-UMi (``GLPFT/inference_utils/toolbench/evaluate-multi_agent.py``): Plan ACC = the step type matches; Act EM =
the API name matches on reference call steps; Hallu = the predicted name is not among the given tools; Arg F1 =
per call step, 0 for a wrong name, else over the reference keys: same key and equal value 1, same key with another
value 0.5, recall = matched / |reference keys|, precision = matched / |predicted keys|; an empty reference scores 1
iff the prediction is empty. (The reference divides 0 by 0 when nothing matches; we score that 0.)
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from tools.registry import Tool

_API_REQUEST = re.compile(r"API-Request:\s*\[(.*)\]\s*$", re.DOTALL)
_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "list(str)": list[str],
    "dict": dict,
}


def parse_api_bank_call(expected: str) -> tuple[str, dict[str, Any]]:
    """``API-Request: [Name(k='v', …)]`` → (name, args); ValueError when it is not a plain Python call."""
    match = _API_REQUEST.search(expected.strip())
    if match is None:
        raise ValueError("no API-Request: [...] found")
    call = ast.parse(match.group(1).strip(), mode="eval").body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args:
        raise ValueError("not a keyword-only call")
    return call.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}


def api_bank_tools(instruction: str) -> list[dict[str, Any]]:
    """The API descriptions of one case: one JSON object per line after ``API descriptions:``."""
    part = instruction.split("API descriptions:", 1)[1]
    return [json.loads(line) for line in part.strip().splitlines() if line.strip()]


def tool_from_api_bank(description: dict[str, Any]) -> Tool:
    """A schema-only tool for an API-Bank API (the mock implementations were not copied: calls are compared)."""
    fields = {
        name: (
            _TYPES.get(spec.get("type", "str"), Any) | None,
            Field(None, description=spec.get("description") or None),
        )
        for name, spec in description.get("input_parameters", {}).items()
    }
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]  # field specs built at run time from the data
        f"{description['name']}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )

    def not_executed(**kwargs: Any) -> str:
        return "recorded (API-Bank calls are compared, not executed)"

    return Tool(
        name=description["name"],
        description=description.get("description", ""),
        fn=not_executed,
        args_model=model,
        is_async=False,
    )


def _same(a: Any, b: Any, *, normalize: bool) -> bool:
    if not normalize:
        return a == b

    def norm(v: Any) -> str:
        return " ".join(str(v).strip().lower().split())

    return norm(a) == norm(b)


def arg_f1(
    ref_name: str, ref_args: dict[str, Any], pred_name: str | None, pred_args: Any, *, normalize: bool = False
) -> float:
    """α-UMi's argument F1 for one call step (``normalize``: compare values as case/space-folded text)."""
    if pred_name != ref_name:
        return 0.0
    if not isinstance(pred_args, dict):
        return 0.0
    if not ref_args:
        return 1.0 if not pred_args else 0.0
    full = half = 0
    for key, value in ref_args.items():
        if key in pred_args:
            if _same(pred_args[key], value, normalize=normalize):
                full += 1
            else:
                half += 1
    matched = full + 0.5 * half
    if matched == 0:
        return 0.0
    recall, precision = matched / len(ref_args), matched / max(1, len(pred_args))
    return 2 * recall * precision / (recall + precision)


class StepScore(BaseModel):
    """One reference call step, predicted."""

    case: str
    ref_name: str
    ref_args: dict[str, Any]
    plan: str  # caller | summarizer | give up | error
    pred_name: str | None = None
    pred_args: dict[str, Any] | None = None
    error: str | None = None
    latency_s: float = 0.0
    llm_calls: int = 0

    def scores(self, tool_names: list[str]) -> dict[str, float]:
        return {
            "plan_acc": float(self.plan == "caller"),
            "act_em": float(self.pred_name == self.ref_name),
            "hallu": float(self.pred_name is not None and self.pred_name not in tool_names),
            "arg_f1": arg_f1(self.ref_name, self.ref_args, self.pred_name, self.pred_args),
            "arg_f1_normalized": arg_f1(self.ref_name, self.ref_args, self.pred_name, self.pred_args, normalize=True),
        }


def summarize_scores(rows: list[tuple[StepScore, list[str]]]) -> dict[str, float]:
    """Means over the steps, in percent, as α-UMi reports them."""
    if not rows:
        return {}
    totals: dict[str, float] = {}
    for row, names in rows:
        for key, value in row.scores(names).items():
            totals[key] = totals.get(key, 0.0) + value
    return {key: round(100 * value / len(rows), 2) for key, value in totals.items()}
