"""Guest-side Python, run once inside Pyodide: tools as functions, capped output, a report per program.

This file is trusted code shipped with Lodestar; the program it runs is not. Nothing here is a security boundary:
Deno's permissions and the host's limits are (see runner.py). It only makes failures clear for the model.
"""

import json
import linecache
import sys
import traceback
from typing import Any

from _lodestar_host import call as _host_call  # bootstrap.mjs provides it


class ToolCallError(Exception):
    """A tool call the host refused or that failed; the message says which tool and why."""


class OutputLimitExceeded(BaseException):  # BaseException: a bare `except Exception` in the program cannot hide it
    pass


class _CappedOutput:
    def __init__(self, limit):
        self.limit, self.size, self.parts = limit, 0, []

    def write(self, text):
        text = str(text)
        room = self.limit - self.size
        if len(text) > room:
            self.parts.append(text[: max(0, room)])
            self.size = self.limit
            raise OutputLimitExceeded()
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def getvalue(self):
        return "".join(self.parts)


_calls: list[dict[str, Any]] = []


def _make_tool(name):
    def call_tool(**arguments):
        reply = json.loads(_host_call(name, json.dumps(arguments, default=str)))
        _calls.append({"name": name, "ok": reply.get("ok", False), "error": reply.get("error")})
        if reply.get("ok"):
            return reply.get("value")
        raise ToolCallError(f"{name}: {reply.get('error')}")

    call_tool.__name__ = name
    return call_tool


def _program_traceback(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<program>"]
    lines = [f"line {f.lineno}: {f.line}" for f in frames[-3:]]
    return lines, (frames[-1].lineno if frames else None)


def _lodestar_run(code, tools_json, limit):
    tools = json.loads(tools_json)
    namespace = {"__name__": "__main__", "ToolCallError": ToolCallError}
    for name in tools:
        namespace[name.replace("-", "_")] = _make_tool(name)
    linecache.cache["<program>"] = (len(code), None, code.splitlines(True), "<program>")
    _calls.clear()
    out = _CappedOutput(limit)
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    report: dict[str, Any] = {"ok": True, "error": None, "kind": None, "line": None, "where": []}
    try:
        exec(compile(code, "<program>", "exec"), namespace)
    except OutputLimitExceeded:
        report.update(ok=False, kind="output", error=f"the program printed more than {limit} characters")
    except SyntaxError as exc:
        report.update(ok=False, kind="syntax", line=exc.lineno, error=f"SyntaxError: {exc.msg} (line {exc.lineno})")
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the program ends, the sandbox does not
        where, line = _program_traceback(exc)
        kind = "tool" if isinstance(exc, ToolCallError) else "exception"
        report.update(ok=False, kind=kind, line=line, where=where, error=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        sys.stdout, sys.stderr = saved
    report["output"] = out.getvalue()
    report["calls"] = list(_calls)
    return json.dumps(report, default=str)
