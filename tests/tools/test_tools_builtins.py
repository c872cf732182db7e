"""Built-in tools: safe arithmetic, date and time, unit conversion, sandboxed file reading, knowledge wrappers."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

from agent.core.config import LoopSettings, Settings
from agent.core.errors import ConfigError, ToolError
from agent.core.trace import Citation
from tests.conftest import REPO
from tools import builtins, calc, units
from tools.registry import ToolContext

# -- calculator -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("7 // 2 + 7 % 2", 4),
        ("2 ** 10", 1024),
        ("12 × 3 ÷ 4 − 1", 8.0),
        ("2^3", 8),
        ("-(-3)", 3),
        ("sqrt(3**2 + 4**2)", 5.0),
        ("round(pi, 4)", 3.1416),
        ("0.1 + 0.2", 0.3),
        ("max(1, 5, 3) + abs(-2)", 7),
        ("degrees(atan2(1, 1))", 45.0),
        ("factorial(5)", 120),
        ("60 * 1852 / 1000", 111.12),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, expected: float) -> None:
    assert calc.evaluate(expression) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('echo hi')", "not allowed"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("(1).__class__", "not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("[1, 2][0]", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("1 if 1 else 2", "not allowed"),
        ("2 ** 100000", "too large"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 2000", "too large"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "cannot evaluate"),
        ("(-8) ** 0.5", "not a real number"),
        ("1e308 * 10", "not a finite number"),
        ("2 +", "not a valid arithmetic expression"),
        ("1 << 5000", "not allowed"),
        ("", "empty"),
        ("1+" * 300 + "1", "too long"),
        ("abs(" * 60 + "1" + ")" * 60, "nested too deeply"),
        ("(" * 240 + "1" + ")" * 240, "not a valid arithmetic expression"),
        ("factorial(1000)", "0 to 170"),
    ],
)
def test_calculator_refuses_anything_else(expression: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        calc.evaluate(expression)


async def test_calculator_tool_reports_errors_as_results() -> None:
    result = await builtins.calculator.invoke({"expression": "1/0"})
    assert not result.ok and result.error == "division by zero"
    assert (await builtins.calculator.invoke({"expression": "6*7"})).output == 42


# -- date and time --------------------------------------------------------------------------------------------------


def test_current_datetime_in_utc_and_a_named_zone() -> None:
    utc = builtins.current_datetime()
    assert utc["timezone"] == "UTC" and utc["utc_offset"] == "+00:00"
    tokyo = builtins.current_datetime("Asia/Tokyo")
    assert tokyo["utc_offset"] == "+09:00" and tokyo["datetime"].endswith("+09:00")


def test_current_datetime_rejects_unknown_zones() -> None:
    with pytest.raises(ToolError, match="unknown time zone 'Mars/Olympus'"):
        builtins.current_datetime("Mars/Olympus")
    with pytest.raises(ToolError, match="unknown time zone"):
        builtins.current_datetime("../../etc/passwd")


# -- units ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1, "nautical mile", "km", 1.852),
        (10, "knots", "km/h", 18.52),
        (20, "kn", "m/s", 10.28888889),
        (60, "mph", "kn", 52.13857451),
        (1, "nmi", "ft", 6076.115486),
        (1, "fathom", "ft", 6),
        (1, "cable", "nm", 0.1),
        (100, "C", "F", 212),
        (-40, "°F", "celsius", -40),
        (0, "K", "C", -273.15),
        (1, "lb", "kg", 0.45359237),
        (90, "minutes", "h", 1.5),
        (1, "deg", "arcmin", 60),
        (1, "compass point", "degrees", 11.25),
        (3, "kilometres per hour", "metres per second", 0.8333333333),
    ],
)
def test_unit_conversion(value: float, source: str, target: str, expected: float) -> None:
    result, _, _ = units.convert(value, source, target)
    assert result == pytest.approx(expected, rel=1e-9)


def test_unit_conversion_errors() -> None:
    with pytest.raises(ToolError, match="cannot convert length"):
        units.convert(1, "km", "kg")
    with pytest.raises(ToolError, match="unknown unit 'parsec'"):
        units.convert(1, "parsec", "km")
    with pytest.raises(ToolError, match="below absolute zero"):
        units.convert(-300, "C", "K")


def test_convert_units_tool_output() -> None:
    assert builtins.convert_units(5, "nm", "km") == {"value": 9.26, "unit": "km", "from": "5 nmi"}


# -- read_file ------------------------------------------------------------------------------------------------------------


def _context(root: Path, **loop: object) -> ToolContext:
    return ToolContext(settings=Settings(loop=LoopSettings(file_root=str(root), **loop)))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "allowed"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "log.md").write_text("Noon position 50°N 4°W.", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("the key", encoding="utf-8")
    return root


async def test_read_file_reads_under_the_root_with_a_citation(tree: Path) -> None:
    result = await builtins.read_file.invoke({"path": "notes/log.md"}, _context(tree))
    assert result.ok and result.output == "Noon position 50°N 4°W."
    assert result.citations == [
        Citation(id="file:notes/log.md", kind="tool", source="notes/log.md", text="Noon position 50°N 4°W.")
    ]


@pytest.mark.parametrize("path", ["../secret.txt", "notes/../../secret.txt", "/etc/passwd", "notes/../.."])
async def test_read_file_refuses_paths_that_escape(tree: Path, path: str) -> None:
    result = await builtins.read_file.invoke({"path": path}, _context(tree))
    assert not result.ok and "outside the folder" in result.error


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
async def test_read_file_refuses_symlink_escapes(tree: Path) -> None:
    (tree / "innocent.txt").symlink_to(tree.parent / "secret.txt")
    (tree / "door").symlink_to(tree.parent)
    for path in ("innocent.txt", "door/secret.txt"):
        result = await builtins.read_file.invoke({"path": path}, _context(tree))
        assert not result.ok and "outside the folder" in result.error, path
    (tree / "inside").symlink_to(tree / "notes" / "log.md")  # a link that stays inside is fine
    assert (await builtins.read_file.invoke({"path": "inside"}, _context(tree))).ok


async def test_read_file_other_refusals(tree: Path) -> None:
    (tree / "blob.bin").write_bytes(b"\x00\x01binary")
    (tree / "big.txt").write_text("y" * 5000, encoding="utf-8")
    cases = {"missing.md": "no such file", "notes": "is a folder; it holds: log.md", "blob.bin": "not a text file"}
    for path, message in cases.items():
        result = await builtins.read_file.invoke({"path": path}, _context(tree))
        assert not result.ok and message in result.error, path
    big = await builtins.read_file.invoke({"path": "big.txt"}, _context(tree, read_file_max_bytes=1000))
    assert big.ok and big.output.startswith("y" * 1000) and "cut at 1000 bytes" in big.output


async def test_read_file_defaults_to_the_current_directory(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    result = await builtins.read_file.invoke({"path": "notes/log.md"}, ToolContext())
    assert result.ok
    assert not (await builtins.read_file.invoke({"path": "../secret.txt"}, ToolContext())).ok


# -- registry assembly and knowledge wrappers ---------------------------------------------------------------------------


def test_build_registry_per_mode_with_user_tools_and_disabled_ones(tmp_path: Path) -> None:
    module = tmp_path / "extra_tools.py"
    module.write_text(
        "from tools import tool\n\n@tool\ndef tide(port: str) -> str:\n    '''High water.'''\n    return '06:12'\n",
        encoding="utf-8",
    )
    settings = Settings(loop=LoopSettings(tools_module=str(module), disabled_tools=["read_file"]))
    assert builtins.build_registry(settings, knowledge=False).names == [
        "calculator",
        "current_datetime",
        "convert_units",
        "tide",
    ]
    assert builtins.build_registry(settings, knowledge=True).names[:2] == ["search_documents", "query_graph"]
    with pytest.raises(ConfigError, match="loop.tools_module"):
        builtins.build_registry(Settings(loop=LoopSettings(tools_module="nope_not_here")), knowledge=False)


def test_as_tool_output_from_objects_and_dicts() -> None:
    class Found:
        answer = "Larcum Kendall made K1."
        short_answer = "Larcum Kendall"
        citations = [Citation(id="K1|made_by|Larcum Kendall", kind="triple", source="graph", text="K1 made by LK")]

    out = builtins.as_tool_output(Found())
    assert out.value["answer"] == "Larcum Kendall made K1." and out.value["short_answer"] == "Larcum Kendall"
    assert out.value["sources"] == ["graph: K1 made by LK"] and out.citations[0].kind == "triple"
    from_dict = builtins.as_tool_output(
        {"text": "An answer", "citations": [{"id": "c1", "kind": "chunk", "source": "a.md", "text": "passage"}]}
    )
    assert from_dict.value["answer"] == "An answer" and from_dict.citations[0].id == "c1"


async def test_knowledge_tools_need_a_run() -> None:
    for item in (builtins.search_documents, builtins.query_graph):
        result = await item.invoke({next(iter(item.parameters["properties"])): "who made K1?"}, ToolContext())
        assert not result.ok and "only available inside a run" in result.error


def test_importing_tools_does_not_import_rag_kg_or_chromadb() -> None:
    import subprocess

    code = (
        "import sys, tools, tools.builtins, agent.loop; "
        "print(sorted(m for m in ('chromadb', 'rag', 'kg', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": "."},
    )
    assert out.stdout.strip() == "[]"


def test_math_constants_visible() -> None:
    assert calc.evaluate("tau / 2") == pytest.approx(math.pi)
