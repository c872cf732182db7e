"""One exception hierarchy for Lodestar.

Every error a user can cause or meet carries a one-line message and the exit code the CLI should use, so the
front ends never need to inspect exception types to decide how to report them.
"""

from __future__ import annotations

import errno
import json
import re
from typing import TYPE_CHECKING

from agent.core.secrets import redact

if TYPE_CHECKING:
    from pydantic import ValidationError

#: Statuses a later attempt may not meet: timeouts, conflicts, rate limits and transient server errors.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
#: 4xx statuses that say nothing about the request itself: credentials (401, 403, 407) and the transient ones.
_NOT_A_REFUSAL = frozenset({401, 403, 407}) | RETRYABLE_STATUS
#: llama-cpp-python answers a request it cannot parse (an unknown ``response_format`` type, say) with a 500 whose body
#: is pydantic's validation error: that rejects the request's shape; asking again the same way cannot work.
_SHAPE_REJECTED = re.compile(r"\bvalidation error\b|literal_error|extra_forbidden")


class LodestarError(Exception):
    """Base of every error Lodestar raises on purpose. ``str(err)`` is the one-line message shown to users."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class BadInputError(LodestarError):
    """The user gave us something we cannot use (missing file, malformed line, empty question)."""

    exit_code = 2


class ConfigError(BadInputError):
    """Invalid configuration: the message names the key and the file."""


class EndpointError(LodestarError):
    """An LLM endpoint could not give an answer within the retry budget.

    Its status class is decided here and nowhere else: ``retryable`` (asking again may work), ``refused`` (the
    server rejects this kind of request: asking differently may work, e.g. without ``response_format``) and
    ``fatal`` (neither: report it).
    """

    def __init__(
        self, message: str, *, url: str = "", status: int | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.shape_rejected = status is not None and status >= 500 and bool(_SHAPE_REJECTED.search(message))
        if retryable is None:
            retryable = status in RETRYABLE_STATUS and not self.shape_rejected
        self.retryable = retryable

    @property
    def refused(self) -> bool:
        """A 4xx about the request itself (400, 404, 422 …), not about credentials, timing or rate limits; or a 5xx
        whose body is a validation error of the request (llama-cpp-python's way of saying 422)."""
        if self.shape_rejected:
            return True
        return self.status is not None and 400 <= self.status < 500 and self.status not in _NOT_A_REFUSAL

    @property
    def fatal(self) -> bool:
        return not self.retryable and not self.refused


class EndpointUnreachable(EndpointError):
    """Connection refused, DNS failure, or every replica is down."""


class EndpointTimeout(EndpointError):
    """The endpoint accepted the request but did not answer in time."""


class ModelOutputError(LodestarError):
    """The model's output could not be parsed or repaired (invalid JSON, missing markers, truncated stream)."""


class LocalServerError(LodestarError):
    """The embedded llama.cpp server could not be started."""


class ToolError(LodestarError):
    """A tool failed; the message is fed back to the model as an observation."""


class EnvironmentFault(LodestarError):
    """The machine, not the input: a folder that cannot be written, a full disk. The message names the path and
    the remedy; exit 1."""


_OS_REMEDIES: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free some space or choose a folder on another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or choose a folder on another disk",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.EACCES: "permission denied: make it writable or choose another path",
    errno.EPERM: "operation not permitted: make it writable or choose another path",
    errno.ENOTDIR: "a file stands where a folder is needed: move it or choose another path",
    errno.EISDIR: "it is a folder, a file is needed: name a file",
    errno.ENOENT: "no such file or folder",
    errno.ELOOP: "a symlink loop: fix or remove the link",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}


def os_error_message(exc: OSError, path: object = None, what: str = "") -> str:
    """One line for an OSError: ``PATH: WHAT: REASON: REMEDY`` (the path from ``exc`` when not given)."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "")
    reason = _OS_REMEDIES.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
    parts = [str(where) if where != "" else "", what, reason]
    return ": ".join(p for p in parts if p)


# -- one line for users -----------------------------------------------------------------------------------------


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, secrets redacted, cut to ``limit`` characters (an ellipsis marks the cut)."""
    line = " ".join(redact(str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line for an exception we did not raise on purpose (just ``Type`` if it says nothing)."""
    detail = one_line(str(exc), limit)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def error_line(exc: BaseException, limit: int = 300) -> str:
    """What a user is told about ``exc``: a LodestarError's own message; anything else is a bug ("internal error")."""
    if isinstance(exc, LodestarError):
        return " ".join(redact(str(exc)).split())  # already one line by construction; never cut
    return f"internal error: {describe(exc, limit)}"


def validation_line(exc: ValidationError, *, top: str = "(top level)", show: int = 1, inputs: bool = False) -> str:
    """A pydantic error as ``key.path: message``: the first ``show`` problems, then how many more there are.

    ``top`` names the whole value when the problem has no key; ``inputs`` adds what was given (for a model's
    feedback: it sees what it wrote wrong).
    """
    problems = []
    for err in exc.errors()[:show]:
        where = ".".join(str(p) for p in err.get("loc", ())) or top
        shown = inputs and err.get("type") != "missing"
        got = f" (got {json.dumps(err.get('input'), default=str)[:60]})" if shown else ""
        problems.append(f"{where}: {err.get('msg', 'invalid')}{got}")
    extra = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {extra} more)" if extra > 0 else "")
