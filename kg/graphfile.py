"""The networkx graph on disk: a format whose loading cannot run code, stale-temporary cleanup, old pickles.

``graph.npz`` is a NumPy archive read with ``allow_pickle=False``: JSON (as bytes) for the strings — entity ids,
names, aliases, relations, the name index — and int32 arrays for the edges and the index. Reading it parses JSON
and numbers, nothing else, so a graph file from someone else cannot execute anything. ``sources.json`` next to it
records what was loaded, so a lost or corrupt graph can be rebuilt (``lodestar kg rebuild``).

The old format was a pickle (``graph.pkl``). It is never unpickled: :func:`legacy_sources` reads the file list
out of its opcodes with :mod:`pickletools` (which decodes, never executes) so the rebuild command can be offered.
"""

from __future__ import annotations

import json
import os
import pickletools
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.core.errors import BadInputError

GRAPH_FILE = "graph.npz"
LEGACY_FILE = "graph.pkl"
SOURCES_FILE = "sources.json"
FORMAT = "lodestar-graph"
VERSION = 2
TEMP_PREFIX = ".graph-"
REBUILD = "lodestar kg rebuild"
RESET = "lodestar kg reset"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(directory: Path) -> list[Path]:
    """Remove temporaries of saves that died (killed ``kg load``): their writer's pid is gone, or unknown."""
    removed: list[Path] = []
    for path in directory.glob(f"{TEMP_PREFIX}*.tmp"):
        parts = path.name[len(TEMP_PREFIX) :].split("-", 1)
        if parts[0].isdigit() and int(parts[0]) != os.getpid() and _pid_alive(int(parts[0])):
            continue  # another process is saving right now
        if parts[0].isdigit() and int(parts[0]) == os.getpid() and len(parts) > 1:
            continue  # one of ours (another thread's save in progress)
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def atomic_write(directory: Path, name: str, write: Any) -> Path:
    """``write(fh)`` into a temp file named after this pid, then rename over ``name``; stale temps go first."""
    directory.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, directory / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return directory / name


def _json_array(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def _json_value(array: np.ndarray) -> Any:
    return json.loads(array.tobytes().decode("utf-8"))


def write_graph(fh: Any, payload: dict[str, Any]) -> None:
    """``payload``: meta (dict), nodes, names, aliases ({index: [..]}), relations, index_keys (lists), and the
    int32 arrays heads, rels, tails, index_nodes."""
    strings = {k: payload[k] for k in ("nodes", "names", "aliases", "relations", "index_keys")}
    np.savez(
        fh,
        meta=_json_array({"format": FORMAT, "version": VERSION, **payload["meta"]}),
        strings=_json_array(strings),
        heads=np.asarray(payload["heads"], dtype=np.int32),
        rels=np.asarray(payload["rels"], dtype=np.int32),
        tails=np.asarray(payload["tails"], dtype=np.int32),
        index_nodes=np.asarray(payload["index_nodes"], dtype=np.int32),
    )


def unreadable(path: Path, why: str) -> BadInputError:
    return BadInputError(
        f"{path}: cannot read the graph ({why}); rebuild it from its recorded sources with `{REBUILD}`, "
        f"or start over with `{RESET}`"
    )


def read_graph(path: Path) -> dict[str, Any]:
    """The payload :func:`write_graph` wrote, checked; a BadInputError naming the remedy when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = _json_value(data["meta"])
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise unreadable(path, "not a Lodestar graph file")
            if meta.get("version") != VERSION:
                raise unreadable(path, f"graph format version {meta.get('version')}, expected {VERSION}")
            payload: dict[str, Any] = {"meta": meta, **_json_value(data["strings"])}
            for key in ("heads", "rels", "tails", "index_nodes"):
                payload[key] = data[key].tolist()
    except BadInputError:
        raise
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError, TypeError, zipfile.BadZipFile) as exc:
        raise unreadable(path, " ".join(str(exc).split())[:160] or type(exc).__name__) from None
    n = len(payload.get("nodes", ()))
    edges = (payload["heads"], payload["rels"], payload["tails"])
    if len({len(e) for e in edges}) != 1 or len(payload.get("names", ())) != n:
        raise unreadable(path, "inconsistent arrays")
    relations = len(payload.get("relations", ()))
    for array, bound in ((payload["heads"], n), (payload["tails"], n), (payload["rels"], relations)):
        if array and (min(array) < 0 or max(array) >= bound):
            raise unreadable(path, "an edge points outside the entity table")
    return payload


# -- sources -----------------------------------------------------------------------------------------------------


def write_sources(directory: Path, sources: list[dict[str, Any]]) -> None:
    text = json.dumps(sources, indent=1, ensure_ascii=False).encode("utf-8")
    atomic_write(directory, SOURCES_FILE, lambda fh: fh.write(text))


def read_sources(directory: Path) -> list[dict[str, Any]] | None:
    """What was loaded, from ``sources.json``, else from an old pickle's opcodes; None when neither says."""
    path = directory / SOURCES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = None
    except (OSError, ValueError):
        data = None
    if isinstance(data, list) and all(isinstance(s, dict) and isinstance(s.get("file"), str) for s in data):
        return data
    legacy = directory / LEGACY_FILE
    if legacy.is_file():
        return legacy_sources(legacy)
    return None


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def legacy_sources(path: Path) -> list[dict[str, Any]] | None:
    """The ``sources`` list of an old pickled graph, decoded from its opcodes without unpickling anything."""
    strings: list[str] = []  # every string the pickle pushes, in order, memo references resolved
    memo: dict[int, str | None] = {}
    last: str | None = None
    try:
        with path.open("rb") as fh:
            for opcode, arg, _ in pickletools.genops(fh):
                name = opcode.name
                if name in _STRING_OPS:
                    last = arg if isinstance(arg, str) else None
                    if last is not None:
                        strings.append(last)
                elif name == "MEMOIZE":
                    memo[len(memo)] = last
                elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[int(str(arg))] = last
                elif name in ("BINGET", "LONG_BINGET", "GET"):
                    last = memo.get(int(str(arg)))
                    if last is not None:
                        strings.append(last)
                elif name not in ("FRAME", "PROTO"):
                    last = None
                if name == "STOP":
                    break
    except (OSError, ValueError, EOFError, MemoryError):
        pass  # a truncated pickle: use what was decoded so far
    if "sources" not in strings:
        return None
    tail = strings[strings.index("sources") + 1 :]
    if "saved_at" in tail:
        tail = tail[: tail.index("saved_at")]
    found: list[dict[str, Any]] = []
    for i, value in enumerate(tail[:-1]):
        if value == "file":
            found.append({"file": tail[i + 1]})
        elif value == "format" and found:
            found[-1]["format"] = tail[i + 1]
    return found


def legacy_error(directory: Path) -> BadInputError:
    """The report for an old pickled graph: never loaded, with the command that rebuilds it."""
    path = directory / LEGACY_FILE
    sources = read_sources(directory) or []
    listed = ", ".join(s["file"] for s in sources[:5]) + (" …" if len(sources) > 5 else "")
    origin = f" from {listed}" if listed else ""
    return BadInputError(
        f"{path} is an old-format graph (a pickle) and was not loaded, since loading a pickle can run code; "
        f"rebuild it{origin} with `{REBUILD}`"
        + ("" if sources else f" (no sources recorded: `{RESET}`, then `lodestar kg load FILE`)")
    )
