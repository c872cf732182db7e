"""Tool chains as programs (ATC §4.1): the caller writes one Python program that calls many tools.

The program runs in the sandbox (tools/sandbox/). Every tool is a function of the same name (``-`` becomes ``_``)
called with keyword arguments; each call crosses to the host, which validates it against the registry and runs the
tool with its own permissions and timeout through ``invoke`` (the loop's wrapper, which records the ordinary
tool_call and tool_result events); the tool's output value comes back into the program. What the program prints is
the observation.

On failure, ATC's attributable reflection (§4.2) names the tool call the error came from and asks for a fix. ATC
asks a second LLM ("code reviewer") which API the error belongs to; here the host saw every call, so the
attribution is read off the program's own record: the call that failed, else the tool named on the failing line,
else the last tool called. Deterministic, and one LLM call cheaper.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable

from agent.core.untrusted import data_block
from tools import prompts
from tools.registry import ToolRegistry, ToolResult
from tools.sandbox.runner import ProgramResult, Sandbox, ToolReply

_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\r?\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
ERROR_CHARS = 600

Invoke = Callable[[str, dict[str, object]], Awaitable[ToolResult]]


def extract_program(text: str) -> str | None:
    """The first ```python block of a reply (an unterminated one runs to the end), or None."""
    match = _BLOCK.search(text or "")
    if match is None:
        return None
    code = match.group(1).strip("\n")
    return code if code.strip() else None


def function_name(tool_name: str) -> str:
    return tool_name.replace("-", "_")


async def run_program(
    sandbox: Sandbox, code: str, registry: ToolRegistry, invoke: Invoke
) -> tuple[ProgramResult, list[ToolResult]]:
    """Run ``code`` with every registered tool as a function; returns the outcome and each call's ToolResult."""
    results: list[ToolResult] = []

    async def handle(name: str, arguments: dict[str, object]) -> ToolReply:
        result = await invoke(name, arguments)
        results.append(result)
        if result.ok:
            return ToolReply(ok=True, value=result.output)
        return ToolReply(ok=False, error=result.error)

    outcome = await sandbox.run(code, registry.names, handle)
    if outcome.ok and not outcome.output.strip():  # ATC's judge: a program that shows nothing has not answered
        outcome = outcome.model_copy(update={"ok": False, "kind": "exception", "error": "the program printed nothing"})
    return outcome, results


def attribute(result: ProgramResult, code: str, tool_names: Iterable[str]) -> str | None:
    """The tool the failure is attributed to (ATC §4.2), or None when no tool call is involved."""
    names = list(tool_names)
    failed = [c.name for c in result.calls if not c.ok]
    if result.kind == "tool" and failed:
        return failed[-1]
    lines = code.splitlines()
    if result.line and 1 <= result.line <= len(lines):
        line = lines[result.line - 1]
        for name in names:
            if re.search(rf"\b{re.escape(function_name(name))}\s*\(", line) or name in line:
                return name
    if result.kind in ("exception", "tool") and result.calls:
        return result.calls[-1].name
    return None


def feedback(result: ProgramResult, code: str, tool_names: Iterable[str]) -> str:
    """The repair prompt: the error, and the tool call it is attributed to when there is one."""
    error = (result.error or "the program failed")[:ERROR_CHARS]
    where = "\n".join(result.where)
    if where:
        error += f"\n{where}"
    error = data_block("error", error)  # it may quote a tool's output: data, never instructions
    tool = attribute(result, code, tool_names)
    if tool is not None:
        return prompts.PROGRAM_ATTRIBUTED_ERROR.format(error=error, tool=tool)
    return prompts.PROGRAM_ERROR.format(error=error)


def observation(result: ProgramResult, limit: int) -> str:
    """What the planner and summarizer see: the printed output, and the error when the program failed."""
    text = result.output.strip()
    if len(text) > limit:
        text = text[:limit] + f" …[truncated, {len(result.output)} characters in all]"
    if not result.ok:
        error = (result.error or "the program failed")[:ERROR_CHARS]
        text = f"{text}\nERROR: {error}" if text else f"ERROR: {error}"
    return text


def render_program(code: str) -> str:
    """The program as it appears in the history."""
    return f"```python\n{code}\n```"
