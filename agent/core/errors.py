"""One exception hierarchy for Lodestar.

Every error a user can cause or meet carries a one-line message and the exit code the CLI should use, so the
front ends never need to inspect exception types to decide how to report them.
"""

from __future__ import annotations


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
