"""Text from a model, a document or a tool must never drive the terminal it is shown on.

Escape sequences in such text could write the clipboard (OSC 52), set the window title (OSC 0/2), move the cursor
to overwrite what was printed (CSI), or hide text (a bare carriage return). :func:`safe_text` removes whole
sequences (CSI, OSC, DCS/SOS/PM/APC, two-byte ESC codes) and then every remaining control character except tab
and newline, 7-bit and 8-bit (C1) alike. Removing each ESC also defeats a sequence split across two streamed
pieces: what is left of it is inert text. :class:`SafeWriter` applies it to a whole output stream.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

from agent.core.secrets import redact

_SEQUENCES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                       # CSI … final byte
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|(?=\n)|$)  # OSC, DCS, SOS, PM, APC … end
  | \x1b[ -/]*[0-~]                                        # two-byte and nF escapes (ESC c, ESC ( B …)
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(text: str) -> str:
    """``text`` without terminal control sequences or control characters (tab and newline stay; CRLF -> LF)."""
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub("", _SEQUENCES.sub("", text.replace("\r\n", "\n")))


def safe_value(value: Any) -> Any:
    """:func:`safe_text` on every string inside a JSON-like value."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list):
        return [safe_value(v) for v in value]
    if isinstance(value, dict):
        return {k: safe_value(v) for k, v in value.items()}
    return value


class SafeWriter:
    """A text stream that passes everything through :func:`safe_text` (the CLI's stdout)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(safe_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def display_text(text: str) -> str:
    """What may be shown of untrusted text: secrets redacted, terminal controls removed."""
    return safe_text(redact(text))
