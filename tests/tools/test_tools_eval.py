"""α-UMi's step-level metrics and the API-Bank readers, on the bundled 12-case sample."""

from __future__ import annotations

import json

import pytest

from agent.core.trace import Trace
from agent.llm.hub import LLMHub
from agent.loop.engine import Loop
from agent.testing.fake_openai import FakeOpenAIServer, Reply
from tests.conftest import REPO
from tools.eval import StepScore, api_bank_tools, arg_f1, parse_api_bank_call, summarize_scores, tool_from_api_bank
from tools.registry import ToolRegistry

SAMPLE = REPO / "tests" / "data" / "tools" / "api_bank" / "level-1-sample.json"


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def test_parse_api_bank_calls(cases: list[dict]) -> None:
    assert parse_api_bank_call("API-Request: [Calculator(formula='(5+6)*3')]") == ("Calculator", {"formula": "(5+6)*3"})
    assert parse_api_bank_call("API-Request: [GetToday()]") == ("GetToday", {})
    parsed = []
    for case in cases[:-1]:
        parsed.append(parse_api_bank_call(case["expected_output"])[0])
    assert len(set(parsed)) == 11
    with pytest.raises(SyntaxError):  # the sample's last case has nested quotes, as 31 of the 399 do
        parse_api_bank_call(cases[-1]["expected_output"])
    with pytest.raises(ValueError):
        parse_api_bank_call("no call here")


def test_tools_from_api_descriptions(cases: list[dict]) -> None:
    apis = api_bank_tools(cases[0]["instruction"])
    built = tool_from_api_bank(apis[0])
    assert built.name == apis[0]["name"]
    props = built.parameters["properties"]
    assert set(props) == set(apis[0]["input_parameters"]) and "required" not in built.parameters
    list_api = {"name": "X", "description": "d", "input_parameters": {"ids": {"type": "list(str)", "description": ""}}}
    assert tool_from_api_bank(list_api).parameters["properties"]["ids"]["type"] == "array"


@pytest.mark.parametrize(
    ("ref", "pred_name", "pred", "expected"),
    [
        ({"a": "1", "b": "2"}, "Api", {"a": "1", "b": "2"}, 1.0),
        ({"a": "1", "b": "2"}, "Other", {"a": "1", "b": "2"}, 0.0),  # wrong name
        ({"a": "1", "b": "2"}, "Api", {"a": "1"}, 2 * 0.5 * 1.0 / 1.5),  # recall 1/2, precision 1
        ({"a": "1", "b": "2"}, "Api", {"a": "1", "b": "x"}, 0.75),  # one full, one half match
        ({"a": "1"}, "Api", {"a": "1", "c": "3"}, 2 * 1.0 * 0.5 / 1.5),  # an extra key costs precision
        ({}, "Api", {}, 1.0),
        ({}, "Api", {"a": "1"}, 0.0),
        ({"a": "1"}, "Api", {"z": "1"}, 0.0),  # nothing matched (the reference divides 0 by 0 here)
        ({"a": "1"}, "Api", "not a dict", 0.0),
    ],
)
def test_arg_f1(ref: dict, pred_name: str, pred: object, expected: float) -> None:
    assert arg_f1("Api", ref, pred_name, pred) == pytest.approx(expected)


def test_arg_f1_folded_values() -> None:
    assert arg_f1("Api", {"name": "Dr. Lee"}, "Api", {"name": "dr.  lee"}) == 0.5
    assert arg_f1("Api", {"name": "Dr. Lee"}, "Api", {"name": "dr.  lee"}, normalize=True) == 1.0
    assert arg_f1("Api", {"n": "3"}, "Api", {"n": 3}, normalize=True) == 1.0


def test_summary_in_percent() -> None:
    good = StepScore(
        case="a", ref_name="Api", ref_args={"a": "1"}, plan="caller", pred_name="Api", pred_args={"a": "1"}
    )
    hallucinated = StepScore(case="b", ref_name="Api", ref_args={"a": "1"}, plan="summarizer", pred_name="Nope")
    summary = summarize_scores([(good, ["Api"]), (hallucinated, ["Api"])])
    assert summary == {"plan_acc": 50.0, "act_em": 50.0, "hallu": 50.0, "arg_f1": 50.0, "arg_f1_normalized": 50.0}


async def test_an_api_bank_case_through_the_caller(
    hub: LLMHub, fake_server: FakeOpenAIServer, cases: list[dict]
) -> None:
    """The bench's path over the fake server: API tools in the native specs, the call read back and scored."""
    case = cases[0]
    name, args = parse_api_bank_call(case["expected_output"])
    registry = ToolRegistry(tool_from_api_bank(d) for d in api_bank_tools(case["instruction"]))
    fake_server.reply(Reply.tool_call(name, args), system_contains="You are the caller")
    loop = Loop(case["input"], hub, Trace(), registry)
    request, error = await loop.ask_caller(loop.caller_messages("Call the API."))
    assert request is not None and not error
    sent = [t["function"]["name"] for t in fake_server.chat_requests[-1].json["tools"]]
    assert name in sent
    score = StepScore(
        case="0", ref_name=name, ref_args=args, plan="caller", pred_name=request.name, pred_args=request.arguments
    )
    assert score.scores(registry.names)["arg_f1"] == 1.0
