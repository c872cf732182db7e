"""One exception hierarchy for Lodestar.

Every error a user can cause or meet carries a one-line message and the exit code the CLI should use, so the
front ends never need to inspect exception types to decide how to report them.
"""

from __future__ import annotations

import errno


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
    """An LLM endpoint could not give an answer within the retry budget."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retryable = retryable


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
