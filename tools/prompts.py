"""Prompt text about tools, kept as data: how tools are listed, how to call one, how to write a chain."""

from __future__ import annotations

# α-UMi lists the API docs one JSON object per line and asks for `Action:` / `Action Input:` (prompt_lib.py).
TEXT_CALL_FORMAT = """Make the call in exactly this format and write nothing after it:
Action: the name of the tool to call, exactly one of [{tool_names}]
Action Input: the arguments as one JSON object, for example {{"name": "value"}}"""

CHAIN_FORMAT = """To run several calls at once (independent calls run in parallel; later calls can use earlier \
results), call the tool named "chain" instead, with a JSON list of steps:
Action: chain
Action Input: [{{"id": "s1", "tool": "TOOL", "args": {{...}}}}, {{"id": "s2", "tool": "TOOL", "args": {{"x": "$s1"}}}}]
In args, "$s1" is the whole result of step s1, "$s1.field" or "$s1.items[0].name" a part of it, and \
"${{s1.field}}" puts it inside a longer text. Use a chain only when one call is not enough."""

JSON_CALL_FORMAT = """Reply with one JSON object and nothing else: {{"tool": "<one of [{tool_names}]>", \
"arguments": {{<the tool's arguments>}}}}"""

JSON_CHAIN_FORMAT = """To run several calls at once, use "tool": "chain" with "arguments": {{"steps": [{{"id": "s1", \
"tool": "TOOL", "args": {{...}}}}, {{"id": "s2", "tool": "TOOL", "args": {{"x": "$s1"}}}}]}}; "$s1" is step s1's \
result, "$s1.field" a part of it."""

NATIVE_CALL_FORMAT = """Call exactly one of the functions you are given. To run several calls at once (independent \
calls run in parallel; later calls can use earlier results with "$s1", "$s1.field" or "${{s1.items[0]}}"), call \
the function "chain" with a list of steps."""

CHAIN_DESCRIPTION = (
    "Run several tool calls as one plan. Steps run in parallel unless a step's args refer to an earlier step's "
    'result: "$s1" (whole result), "$s1.field", "$s1.items[0].name", or "${s1.field}" inside longer text.'
)

CALL_PARSE_ERROR = """Your reply could not be used as a tool call: {error}
Reply again with one tool call only, in the required format."""


def chain_spec(tool_names: list[str]) -> dict[str, object]:
    """The native-tool-call schema of the pseudo-tool "chain"."""
    return {
        "type": "function",
        "function": {
            "name": "chain",
            "description": CHAIN_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {
                    "steps": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "description": "a short step id such as s1"},
                                "tool": {"type": "string", "enum": tool_names},
                                "args": {"type": "object", "description": "the tool's arguments"},
                            },
                            "required": ["id", "tool", "args"],
                        },
                    }
                },
                "required": ["steps"],
            },
        },
    }


def call_schema(
    tools: list[tuple[str, dict[str, object]]], *, chains: bool, program: bool = False
) -> dict[str, object]:
    """JSON schema of one call ``{"tool", "arguments"}``: one branch per tool, so that a grammar-constrained
    server can only produce a known tool with arguments of the right shape."""
    branches: list[dict[str, object]] = [
        {
            "type": "object",
            "properties": {"tool": {"const": name}, "arguments": parameters},
            "required": ["tool", "arguments"],
        }
        for name, parameters in tools
    ]
    if chains:
        steps = chain_spec([name for name, _ in tools])["function"]["parameters"]  # type: ignore[index]  # a JSON dict
        branches.append(
            {
                "type": "object",
                "properties": {"tool": {"const": "chain"}, "arguments": steps},
                "required": ["tool", "arguments"],
            }
        )
    if program:
        code = {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}
        branches.append(
            {
                "type": "object",
                "properties": {"tool": {"const": "program"}, "arguments": code},
                "required": ["tool", "arguments"],
            }
        )
    return {"oneOf": branches} if len(branches) > 1 else branches[0]


JSON_PROGRAM_FORMAT = """To combine several tool calls, use "tool": "program" with "arguments": {{"code": "<a Python \
program>"}}; in it every tool is a function of the same name called with keyword arguments, returning the tool's \
output; `print` the final result."""

# Programs (ATC §4.1, tools/program.py). ATC's instruction: directly executable Python in a ```python block, the
# used APIs named in comments "for the attributable consideration", no made-up values, `print` the final answer.
PROGRAM_FORMAT = """To combine several tool calls, you may instead answer with one Python program in a ```python \
block. In the program every tool is a function of the same name, called with keyword arguments, for example \
x = {example}(...); it returns the tool's output (a JSON value: dict, list, string or number) or raises \
ToolCallError. Write directly executable code, name the tools you use in comments, take values from tool results \
instead of making them up, and `print` the final result: what it prints is all that is seen. The program has no \
network and no files; use only the standard library."""

PROGRAM_ATTRIBUTED_ERROR = """The program failed:
{error}
The error is potentially triggered in calling the tool: {tool}
Please fix your bug and give the corrected program in one ```python block."""

PROGRAM_ERROR = """The program failed:
{error}
Rethink the tool calls and the parameter passing, and give the corrected program in one ```python block."""


# Black-box probing (ATC §4.3, tools/probe.py): the model proposes a test call of a tool whose output is undocumented.
PROBE_SYSTEM = """You test tools whose output is not documented. Given one tool's name, description and \
parameters, propose one realistic test call that shows what the tool returns: plausible argument values of the \
right types, nothing destructive. Reply in exactly this format and write nothing after it:
Query: "<a question this call would help answer>"
Action Input: <the arguments as one JSON object>"""

PROBE_USER = """The tool:
{doc}
Propose the test call."""

PROBE_RETRY = """The test call failed: {error}
Propose a corrected test call in the same format."""
