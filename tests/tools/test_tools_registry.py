"""The tool registry: schemas from hints and docstrings, validation errors as results, timeouts, user modules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.core.errors import ConfigError, ToolError
from agent.core.trace import Citation
from tools.registry import Tool, ToolContext, ToolOutput, ToolRegistry, parse_docstring, tool


@tool
def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: the first number
        b: the second number,
            which defaults to two
    """
    return a + b


@tool(name="slow", timeout_s=0.2)
async def slow_tool(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "done"


def test_schema_comes_from_hints_and_docstring() -> None:
    spec = add.spec()["function"]
    assert spec["name"] == "add"
    assert spec["description"] == "Add two numbers."
    params = spec["parameters"]
    assert params["properties"]["a"] == {"type": "integer", "description": "the first number"}
    assert params["properties"]["b"]["description"] == "the second number, which defaults to two"
    assert params["properties"]["b"]["default"] == 2
    assert params["required"] == ["a"]
    assert "title" not in str(params)


def test_sphinx_docstrings_and_optional_parameters() -> None:
    def lookup(term: str, limit: int | None = None, ctx: ToolContext | None = None) -> str:
        """Look a term up.

        :param term: what to look up
        :param limit: at most this many
        """
        return term

    built = tool(lookup)
    props = built.parameters["properties"]
    assert props["term"]["description"] == "what to look up"
    assert props["limit"] == {"type": "integer", "description": "at most this many"}  # no anyOf/null noise
    assert "ctx" not in props and built.context_param == "ctx"


def test_context_parameter_is_injected_not_described() -> None:
    seen: list[ToolContext] = []

    @tool
    def who(name: str, context: ToolContext) -> str:
        """Greet."""
        seen.append(context)
        return f"hi {name}"

    assert "context" not in who.parameters["properties"] and who.context_param == "context"
    result = asyncio.run(who.invoke({"name": "Ann"}, ToolContext(step="7")))
    assert result.ok and result.output == "hi Ann" and seen[0].step == "7"


def test_parse_docstring_keeps_summary_only() -> None:
    summary, params = parse_docstring("Do a thing.\n\nMore detail here.\n\nReturns:\n    nothing\n")
    assert summary == "Do a thing. More detail here." and params == {}


async def test_validation_error_is_a_failed_result_not_an_exception() -> None:
    result = await add.invoke({"a": "many", "c": 1})
    assert not result.ok
    assert "invalid arguments for add" in result.error
    assert "a:" in result.error and "c:" in result.error  # both problems named for the model
    assert result.observation(1000).startswith("ERROR: invalid arguments")


async def test_arguments_are_coerced_like_pydantic_does() -> None:
    result = await add.invoke({"a": "3"})
    assert result.ok and result.output == 5


async def test_non_object_arguments_are_refused() -> None:
    result = await add.invoke([1, 2])
    assert not result.ok and "must be a JSON object" in result.error


async def test_exceptions_become_results() -> None:
    @tool
    def broken() -> None:
        """Always fails."""
        raise RuntimeError("the disk is on fire")

    @tool
    def polite() -> None:
        """Fails with a ToolError."""
        raise ToolError("no such station")

    bad = await broken.invoke({})
    assert not bad.ok and bad.error == "RuntimeError: the disk is on fire"
    assert (await polite.invoke({})).error == "no such station"


async def test_async_tool_timeout() -> None:
    started = time.perf_counter()
    result = await slow_tool.invoke({"seconds": 5})
    assert time.perf_counter() - started < 2
    assert not result.ok and result.error == "slow timed out after 0.2 s"
    assert (await slow_tool.invoke({"seconds": 0})).output == "done"


async def test_sync_tool_runs_in_a_thread_with_the_registry_timeout() -> None:
    @tool
    def blocking(seconds: float) -> str:
        """Block."""
        time.sleep(seconds)
        return "ok"

    registry = ToolRegistry([blocking])
    loop_alive = asyncio.create_task(asyncio.sleep(0.05))
    result = await registry.call("blocking", {"seconds": 0.6}, timeout_s=0.1)
    assert loop_alive.done()  # the event loop kept running while the tool blocked its thread
    assert not result.ok and "timed out after 0.1 s" in result.error


async def test_observation_is_truncated_but_output_kept_whole() -> None:
    @tool
    def big() -> str:
        """Lots of text."""
        return "x" * 5000

    result = await big.invoke({})
    assert len(result.output) == 5000
    shown = result.observation(1024)
    assert shown.startswith("x" * 1024) and "truncated, 5000 characters" in shown and len(shown) < 1100


async def test_tool_output_carries_citations_and_outputs_are_jsonable() -> None:
    @tool
    def cited() -> ToolOutput:
        """With a source."""
        return ToolOutput(
            value={"path": Path("a/b"), "n": {1, 2}},
            citations=[Citation(id="d1", kind="chunk", source="doc", text="t")],
        )

    result = await cited.invoke({})
    assert result.output == {"path": "a/b", "n": [1, 2]}
    assert [c.id for c in result.citations] == ["d1"]


async def test_registry_resolves_loose_names_and_reports_unknown_ones() -> None:
    registry = ToolRegistry([add])
    assert registry.resolve("functions.add") is add and registry.resolve(" `Add` ") is add
    result = await registry.call("teleport", {})
    assert not result.ok and "unknown tool 'teleport'" in result.error and "add" in result.error


def test_reserved_and_duplicate_names() -> None:
    with pytest.raises(ValueError, match="reserved"):
        tool(lambda: None, name="chain")
    registry = ToolRegistry([add])
    with pytest.raises(ValueError, match="already registered"):
        registry.add(add)


def test_user_module_by_path_and_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "my_tools.py"
    module.write_text(
        "from tools import tool\n\n@tool\ndef shout(text: str) -> str:\n    '''Upper-case.'''\n"
        "    return text.upper()\n",
        encoding="utf-8",
    )
    registry = ToolRegistry()
    assert [t.name for t in registry.load_module(str(module))] == ["shout"]
    monkeypatch.chdir(tmp_path)  # a module next to lodestar.toml is found by name too
    assert isinstance(ToolRegistry().load_module("my_tools")[0], Tool)


def test_user_module_errors_name_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"loop\.tools_module: cannot import 'no_such_module_xyz'"):
        ToolRegistry().load_module("no_such_module_xyz")
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"loop\.tools_module: cannot import .*SyntaxError"):
        ToolRegistry().load_module(str(broken))
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="defines no @tool functions"):
        ToolRegistry().load_module(str(empty))
