"""Checks that the places Lodestar writes to are usable, before any work starts.

A command that would write under LODESTAR_HOME checks it first, so an unwritable home, a home that is a file or a
full disk is one line naming the folder and the remedy, not a failure deep inside Chroma or a trace writer. Paths
the user names on the command line (``--trace``, ``-o``) are checked the same way and reported as bad input.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from agent.core.errors import BadInputError, EnvironmentFault, os_error_message

HOME_REMEDY = "set --home or LODESTAR_HOME to a writable folder"
_PROBE = ".lodestar-write-check"


def ensure_home(home: Path) -> Path:
    """Create ``home`` if needed and prove that one byte can be written there; raise EnvironmentFault if not."""
    label = f"the data folder {home} (LODESTAR_HOME)"
    if home.exists() and not home.is_dir():
        raise EnvironmentFault(f"{label} is a file, not a folder: {HOME_REMEDY}")
    probe = home / _PROBE
    try:
        home.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as fh:
            fh.write(b"x")
    except OSError as exc:
        raise EnvironmentFault(f"{label}: cannot write: {os_error_message(exc, path='')}; {HOME_REMEDY}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return home


def check_output_file(path: Path, flag: str) -> Path:
    """A file the user asked us to write (``--trace FILE``): not a folder, its folder exists or can be made,
    writable. Bad input (exit 2) when it cannot be; a full disk is the environment (exit 1)."""
    if path.is_dir():
        raise BadInputError(f"{flag} {path}: is a folder: name a file inside it")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as exc:
        message = f"{flag} {path}: cannot write: {os_error_message(exc, path='')}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EnvironmentFault(message) from None
        raise BadInputError(message) from None
    if not existed:
        try:
            os.unlink(path)  # the writer creates it; an empty file left behind would claim a run that never was
        except OSError:
            pass
    return path
