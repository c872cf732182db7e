"""Tool chains: parsing and checking, references, DAG execution with concurrency, attributed failures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tools.chain import ChainError, parse_chain, references, resolve, run_chain
from tools.registry import ToolRegistry, ToolResult, tool

NAMES = ["lookup", "convert", "calc"]


def test_parse_accepts_lists_objects_and_loose_spellings() -> None:
    chain = parse_chain('{"steps": [{"id": "s1", "tool": "lookup", "args": {"q": "x"}}]}', NAMES)
    assert [s.id for s in chain.steps] == ["s1"]
    loose = parse_chain([{"name": "lookup", "arguments": {"q": "x"}}, {"tool": "calc", "args": {"e": "$s1"}}], NAMES)
    assert [(s.id, s.tool) for s in loose.steps] == [("s1", "lookup"), ("s2", "calc")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not json", "not valid JSON"),
        ([], "non-empty JSON list"),
        ({"id": "s1"}, "non-empty JSON list"),
        ([{"id": "s1", "tool": "teleport", "args": {}}], "unknown tool 'teleport'"),
        ([{"id": "s1", "tool": "calc", "args": {}}, {"id": "s1", "tool": "calc", "args": {}}], "two steps"),
        ([{"id": "1 bad", "tool": "calc", "args": {}}], "step id"),
        ([{"id": "s1", "tool": "calc", "args": {"e": "${s9.x}"}}], "refers to no step"),
        ([{"id": "s1", "tool": "calc", "args": {"e": "$s1"}}], "its own result"),
        ([{"id": "a", "tool": "calc", "args": {"e": "$b"}}, {"id": "b", "tool": "calc", "args": {"e": "$a"}}], "cycle"),
        ([{"id": "s1", "tool": "calc", "args": "oops"}], "invalid chain at steps.0.args"),
        ([{"id": f"s{i}", "tool": "calc", "args": {}} for i in range(20)], "limit is 12"),
    ],
)
def test_parse_rejects_bad_chains_with_a_reason(data: Any, message: str) -> None:
    with pytest.raises(ChainError, match=message):
        parse_chain(data, NAMES)


def test_references_and_resolution() -> None:
    outputs = {"s1": {"items": [{"name": "Cordouan", "year": 1823}], "count": 1}, "s2": 5.5}
    assert references({"a": "$s1.items[0].name", "b": ["x ${s2} y"], "c": "$100"}) == {"s1", "s2"}
    assert resolve("$s1", outputs) == outputs["s1"]
    assert resolve("$s1.items[0].year", outputs) == 1823  # typed, not text
    assert resolve("$s1.items.0.name", outputs) == "Cordouan"
    assert resolve("${s2}", outputs) == 5.5
    assert resolve("lit in ${s1.items[0].year} by $s1.items[-1].name", outputs) == "lit in 1823 by Cordouan"
    assert resolve({"nested": ["$s2", "$USD 3"]}, outputs) == {"nested": [5.5, "$USD 3"]}  # unknown ids stay text


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("$s1.missing", "no field 'missing'"),
        ("$s1.items[5]", "out of range"),
        ("$s2.x", "needs an object"),
        ("$s1.count[0]", "needs a list"),
    ],
)
def test_resolution_errors_are_specific(ref: str, message: str) -> None:
    with pytest.raises(ChainError, match=message):
        resolve(ref, {"s1": {"items": [1], "count": 1}, "s2": 5.5})


def _registry(log: list[tuple[str, float, float]]) -> ToolRegistry:
    @tool
    async def lookup(q: str) -> dict[str, Any]:
        """Slow lookup."""
        start = time.perf_counter()
        await asyncio.sleep(0.3)
        log.append((q, start, time.perf_counter()))
        return {"value": len(q), "q": q}

    @tool
    def calc(e: str) -> str:
        """Echo."""
        if "boom" in e:
            raise ValueError("boom")
        return f"calc({e})"

    return ToolRegistry([lookup, calc])


async def _run(registry: ToolRegistry, data: Any, **kwargs: Any):
    chain = parse_chain(data, registry.names)

    async def call(step_id: str, name: str, args: dict[str, Any]) -> ToolResult:
        return await registry.call(name, args)

    return await run_chain(chain, call, **kwargs)


async def test_independent_steps_overlap_and_dependents_wait() -> None:
    log: list[tuple[str, float, float]] = []
    registry = _registry(log)
    started = time.perf_counter()
    result = await _run(
        registry,
        [
            {"id": "s1", "tool": "lookup", "args": {"q": "alpha"}},
            {"id": "s2", "tool": "lookup", "args": {"q": "be"}},
            {"id": "s3", "tool": "calc", "args": {"e": "${s1.value}+${s2.value}"}},
        ],
    )
    elapsed = time.perf_counter() - started
    assert result.ok
    (_, a_start, a_end), (_, b_start, b_end) = sorted(log)
    assert max(a_start, b_start) < min(a_end, b_end)  # the two slow steps really overlapped
    assert elapsed < 0.55  # 2 x 0.3 s sequentially would be 0.6 s
    s3 = result.steps[2]
    assert s3.output == "calc(5+2)" and s3.started >= max(a_end, b_end) - 1e-3


async def test_concurrency_bound_serializes() -> None:
    log: list[tuple[str, float, float]] = []
    result = await _run(
        _registry(log), [{"id": f"s{i}", "tool": "lookup", "args": {"q": str(i)}} for i in range(2)], concurrency=1
    )
    assert result.ok
    (_, _, first_end), (_, second_start, _) = sorted(log, key=lambda r: r[1])
    assert second_start >= first_end - 1e-3


async def test_failure_is_attributed_and_only_dependents_are_skipped() -> None:
    log: list[tuple[str, float, float]] = []
    result = await _run(
        _registry(log),
        [
            {"id": "s1", "tool": "calc", "args": {"e": "boom"}},
            {"id": "s2", "tool": "lookup", "args": {"q": "independent"}},
            {"id": "s3", "tool": "calc", "args": {"e": "$s1"}},
        ],
    )
    assert not result.ok
    assert result.failed is not None and result.failed.id == "s1"
    assert [s.ok for s in result.steps] == [False, True, False]
    assert result.steps[2].skipped and "needs step s1" in result.steps[2].error
    feedback = result.feedback()
    assert "step 's1'" in feedback and "tool 'calc'" in feedback and "ValueError: boom" in feedback
    assert "Steps s2 succeeded" in feedback
    observation = result.observation(1024)
    assert "s1 (calc): ERROR: ValueError: boom" in observation and "s2 (lookup):" in observation


async def test_bad_reference_fails_the_referring_step() -> None:
    result = await _run(
        _registry([]),
        [
            {"id": "s1", "tool": "calc", "args": {"e": "x"}},
            {"id": "s2", "tool": "calc", "args": {"e": "$s1.nope"}},
        ],
    )
    assert result.failed is not None and result.failed.id == "s2"
    assert "bad reference" in result.failed.error and "needs an object" in result.failed.error


async def test_observation_shares_the_budget_between_steps() -> None:
    @tool
    def big(n: int) -> str:
        """Long text."""
        return "z" * n

    registry = ToolRegistry([big])
    result = await _run(
        registry, [{"id": "a", "tool": "big", "args": {"n": 5000}}, {"id": "b", "tool": "big", "args": {"n": 10}}]
    )
    shown = result.observation(400)
    assert "b (big): zzzzzzzzzz" in shown and len(shown) < 600
