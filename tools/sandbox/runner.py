"""The sandbox, host side: LLM-written Python runs in Pyodide (WebAssembly) inside a Deno process.

Why this mechanism: Deno's permission model is maintained, deny-by-default and the same on Linux and macOS. Deno
is started with read access to the Pyodide files and one fresh temporary folder, write access to that folder, and
nothing else — no network, subprocess, FFI, environment or system-information permission, and ``--no-prompt`` so a
denied operation fails instead of asking. The program can reach Deno's API through Pyodide's ``js`` module, so the
permissions (not Python) are the boundary; Python itself sees only Emscripten's in-memory files plus the temporary
folder mounted at ``/sandbox``. WebAssembly cannot call host libc, so ``ctypes``, ``os.system`` and ``fork`` have
nothing to reach.

Limits, enforced from outside the guest:
- memory: V8's heap cap (``--max-old-space-size``) and, on Linux, ``RLIMIT_DATA`` on the process; Pyodide's own
  address space is 32-bit, so one program cannot ask for more than 4 GB whatever the limits;
- CPU: ``RLIMIT_CPU``, raised before each program to the CPU already used plus ``sandbox.cpu_s`` (Linux, with
  ``prlimit``); elsewhere each program gets a fresh process with the limit set at start;
- wall clock: the host kills the process group when ``sandbox.wall_s`` is spent;
- output: the guest caps what the program prints; the host caps every line it reads and kills the process if a
  line is longer (a program writing to Deno's stdout directly);
- cancellation (Ctrl-C included) kills the process group; on Linux the process also dies with its parent.

Each tool call crosses to the host as one JSON line; the host's handler validates and runs it with the tool's own
permissions and timeout, and the reply line carries the tool's output value back into the program.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.core.config import SandboxSettings
from agent.core.errors import ConfigError, LodestarError

PYODIDE_VERSION = "314.0.8"
HERE = Path(__file__).resolve().parent
BOOTSTRAP = HERE / "bootstrap.mjs"
PRELUDE = HERE / "prelude.py"
START_CPU_S = 30  # CPU seconds allowed for Deno and Pyodide to start, on top of a program's own budget
LIFETIME_CPU_S = 900  # the hard CPU limit of one process (only the soft limit moves): then a fresh process
LINUX = sys.platform.startswith("linux")
_LIVE: weakref.WeakSet[Sandbox] = weakref.WeakSet()

FailureKind = Literal["exception", "tool", "syntax", "output", "timeout", "cpu", "memory", "crashed"]


class SandboxError(LodestarError):
    """The sandbox cannot run here (no deno, no Pyodide and no npm to fetch it, a start-up failure)."""


@dataclass
class ToolReply:
    """What the host answers to one tool call from a program."""

    ok: bool
    value: Any = None
    error: str | None = None


ToolHandler = Callable[[str, dict[str, Any]], Awaitable[ToolReply]]


class ProgramCall(BaseModel):
    name: str
    ok: bool
    error: str | None = None


class ProgramResult(BaseModel):
    """One program's outcome: its printed output, and on failure what failed, where, and which calls it made."""

    ok: bool
    output: str = ""
    error: str | None = None
    kind: FailureKind | None = None
    line: int | None = None
    where: list[str] = Field(default_factory=list)
    calls: list[ProgramCall] = Field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float | None = None


# -- the runtime files ---------------------------------------------------------------------------------------------


def find_deno() -> str:
    """The deno binary: the ``deno`` PyPI package's, else one on PATH."""
    try:
        import deno

        found = str(deno.find_deno_bin())
        if Path(found).is_file():
            return found
    except Exception:  # not installed, or no binary for this platform: try PATH
        pass
    on_path = shutil.which("deno")
    if on_path:
        return on_path
    raise SandboxError("the sandbox needs Deno: pip install deno (or put deno on PATH)")


def pyodide_dir(settings: SandboxSettings, cache_dir: Path) -> Path:
    """The unpacked ``pyodide`` npm package: ``sandbox.pyodide_dir``, else fetched once into the cache with npm."""
    if settings.pyodide_dir is not None:
        found = Path(settings.pyodide_dir).expanduser().resolve()
        if not (found / "pyodide.mjs").is_file():
            raise ConfigError(f"sandbox.pyodide_dir: no pyodide.mjs in {found}")
        return found
    target = (cache_dir / "pyodide" / PYODIDE_VERSION).resolve()
    if (target / "pyodide.mjs").is_file():
        return target
    return fetch_pyodide(target)


def fetch_pyodide(target: Path) -> Path:
    """``npm pack pyodide@VERSION`` (the npm registry, never a CDN at run time), unpacked atomically into target."""
    npm = shutil.which("npm")
    if npm is None:
        raise SandboxError(f"the sandbox needs Pyodide {PYODIDE_VERSION}: install npm, or set sandbox.pyodide_dir")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as scratch:
        done = subprocess.run(
            [npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        packs = list(Path(scratch).glob("pyodide-*.tgz"))
        if done.returncode != 0 or not packs:
            detail = " ".join((done.stderr or done.stdout).split())[-300:]
            raise SandboxError(f"could not fetch Pyodide {PYODIDE_VERSION} with npm: {detail}")
        with tarfile.open(packs[0]) as archive:
            archive.extractall(scratch, filter="data")
        with contextlib.suppress(OSError):  # another process may have finished first: theirs is as good
            os.rename(Path(scratch) / "package", target)
    if not (target / "pyodide.mjs").is_file():
        raise SandboxError(f"the Pyodide package in {target} has no pyodide.mjs")
    return target


# -- the process ---------------------------------------------------------------------------------------------------


def _limit_child(cpu_s: int, memory_bytes: int) -> Callable[[], None]:
    """Resource limits set in the child before exec; on Linux it also dies with its parent (no orphan).

    The hard CPU limit stays put, since lowering it cannot be undone without privileges; the soft one (SIGXCPU,
    which ends Deno) is what each program gets."""

    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, LIFETIME_CPU_S))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if LINUX:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return apply


def _fresh_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="lodestar-sandbox-")).resolve()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by a live process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class Sandbox:
    """One warm Deno+Pyodide process that runs programs one at a time (start-up costs seconds; a call, far less).

    A program that breaks a limit costs the process: the next program starts a fresh one. ``async with`` closes it.
    """

    def __init__(self, settings: SandboxSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.process: asyncio.subprocess.Process | None = None
        self.workdir: Path | None = None
        self.start_s: float | None = None  # wall time of the last start, for benchmarks
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._line_limit = settings.output_chars * 4 + (8 << 20)  # any line longer than this is an attack
        _LIVE.add(self)

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        async with self._start_lock:  # a warm-up task and a first program may both ask for it
            if not self.alive:
                await self._start()

    async def _start(self) -> None:
        await self.close()
        started = time.perf_counter()
        deno = find_deno()
        runtime = await asyncio.to_thread(pyodide_dir, self.settings, self.cache_dir)
        self.workdir = _fresh_folder()  # not in a thread: a cancelled await would leave the folder behind
        deno_dir = self.workdir / ".deno"
        command = [
            deno,
            "run",
            "--quiet",
            "--no-prompt",
            "--no-config",
            "--no-lock",
            "--no-remote",
            f"--allow-read={runtime},{self.workdir}",
            f"--allow-write={self.workdir}",
            "--deny-net",
            "--deny-run",
            "--deny-ffi",
            "--deny-env",
            "--deny-sys",
            f"--v8-flags=--max-old-space-size={self.settings.memory_mb // 2}",
            str(BOOTSTRAP),
            str(runtime),
            str(self.workdir),
        ]
        environment = {
            "DENO_DIR": str(deno_dir),
            "DENO_NO_UPDATE_CHECK": "1",
            "NO_COLOR": "1",
            "HOME": str(self.workdir),
            "PATH": os.defpath,
        }
        memory = self.settings.memory_mb << 20  # all the process's data: V8's heap, WebAssembly memory, the rest
        cpu = START_CPU_S + math.ceil(self.settings.cpu_s)
        self._stderr = bytearray()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=environment,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_limit_child(cpu, memory),  # the limits are set between fork and exec
                limit=self._line_limit,
            )
        except BaseException:  # cancelled or refused: leave no folder behind
            await self.close()
            raise
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        try:
            async with asyncio.timeout(self.settings.start_timeout_s):
                ready = await self._read()
                if ready is None or ready.get("type") != "ready":
                    raise SandboxError(f"the sandbox did not start: {self._stderr_tail()}")
                self._send({"type": "init", "prelude": PRELUDE.read_text(encoding="utf-8")})
                await self._drain()
                done = await self._read()
                if done is None or done.get("type") != "done":
                    raise SandboxError(f"the sandbox did not start: {self._stderr_tail()}")
        except TimeoutError:
            await self.close()
            raise SandboxError(f"the sandbox did not start within {self.settings.start_timeout_s:g} s") from None
        except BaseException:
            await self.close()
            raise
        self.start_s = time.perf_counter() - started

    async def close(self) -> None:
        """Kill the process group and remove the temporary folder (safe to call twice, and from cancellation)."""
        process, self.process = self.process, None
        if process is not None:
            _kill(process)
            with contextlib.suppress(Exception):
                await asyncio.shield(process.wait())
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            with contextlib.suppress(BaseException):
                await self._stderr_task
            self._stderr_task = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    async def run(self, code: str, tools: Sequence[str] = (), handler: ToolHandler | None = None) -> ProgramResult:
        """Run one program; every name in ``tools`` is a function in it whose calls go to ``handler``."""
        async with self._lock:
            used = _cpu_seconds(self.process.pid) if self.alive and self.process is not None else None
            if not LINUX or (used is not None and used + self.settings.cpu_s + 1 >= LIFETIME_CPU_S):
                await self.close()  # without prlimit the CPU limit is per process: a fresh one per program
            await self.start()
            assert self.process is not None and self.workdir is not None
            self._clear_workdir()
            cpu_before = _cpu_seconds(self.process.pid)
            if cpu_before is not None:
                import resource

                soft = math.ceil(cpu_before + self.settings.cpu_s)
                resource.prlimit(self.process.pid, resource.RLIMIT_CPU, (soft, LIFETIME_CPU_S))
            started = time.perf_counter()
            try:
                result = await self._run(code, list(tools), handler)
            except BaseException:  # cancelled (Ctrl-C): the program must not outlive us
                await self.close()
                raise
            result.wall_s = round(time.perf_counter() - started, 6)
            if self.alive and cpu_before is not None and self.process is not None:
                used = _cpu_seconds(self.process.pid)
                result.cpu_s = None if used is None else round(used - cpu_before, 3)
            return result

    async def _run(self, code: str, tools: list[str], handler: ToolHandler | None) -> ProgramResult:
        limits = self.settings
        nonce = secrets.token_hex(16)
        self._send({"type": "run", "code": code, "tools": tools, "output_bytes": limits.output_chars, "nonce": nonce})
        try:
            async with asyncio.timeout(limits.wall_s):
                await self._drain()
                while True:
                    try:
                        message = await self._read()
                    except ValueError:  # a line past the host's cap: output written around the guest's limit
                        await self.close()
                        return ProgramResult(
                            ok=False,
                            kind="output",
                            error=f"the program printed more than {limits.output_chars} characters",
                        )
                    if message is None:
                        return await self._died()
                    if message.get("type") == "call":
                        reply = await self._answer(message, tools, handler)
                        self._send({"type": "result", "id": message.get("id"), **reply.__dict__})
                        await self._drain()
                    elif message.get("type") == "done" and message.get("nonce") == nonce:
                        result = _report(message, limits.output_chars)
                        if (result.error or "").startswith("MemoryError"):
                            result.kind = "memory"
                            result.error = f"{result.error} (the limit is {limits.memory_mb} MB)"
                        if result.kind in ("crashed", "memory"):  # a broken or bloated Pyodide: start afresh
                            await self.close()
                        return result
        except TimeoutError:
            await self.close()
            return ProgramResult(
                ok=False, kind="timeout", error=f"the program ran longer than {limits.wall_s:g} s and was stopped"
            )

    async def _answer(self, message: dict[str, Any], tools: list[str], handler: ToolHandler | None) -> ToolReply:
        name, arguments = message.get("name"), message.get("args")
        if not isinstance(name, str) or name not in tools or handler is None:
            return ToolReply(ok=False, error=f"unknown tool {str(name)[:60]!r}; the tools are: {', '.join(tools)}")
        if not isinstance(arguments, dict):
            return ToolReply(ok=False, error=f"the arguments of {name} must be keyword arguments")
        return await handler(name, arguments)

    async def _died(self) -> ProgramResult:
        process = self.process
        code = await process.wait() if process is not None else None
        tail = self._stderr_tail()
        await self.close()
        if code in (-signal.SIGXCPU, -signal.SIGKILL) and "memory" not in tail.lower():
            return ProgramResult(
                ok=False, kind="cpu", error=f"the program used more than {self.settings.cpu_s:g} CPU seconds"
            )
        if any(sign in tail.lower() for sign in ("out of memory", "allocation failed", "memory allocation of")):
            return ProgramResult(
                ok=False, kind="memory", error=f"the program used more than the {self.settings.memory_mb} MB allowed"
            )
        return ProgramResult(ok=False, kind="crashed", error=f"the sandbox stopped (exit {code}): {tail[-300:]}")

    # -- the wire ------------------------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(message, default=str).encode() + b"\n")

    async def _drain(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        with contextlib.suppress(ConnectionError):  # a dead guest shows as end of output on the next read
            await self.process.stdin.drain()

    async def _read(self) -> dict[str, Any] | None:
        """The guest's next message; None when its output ended. Raises ValueError on an over-long line."""
        assert self.process is not None and self.process.stdout is not None
        while True:
            try:
                line = await self.process.stdout.readline()
            except asyncio.LimitOverrunError as exc:
                raise ValueError("line too long") from exc
            if not line:
                return None
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours (the program wrote to Deno's stdout): ignore, the guest's report is what counts
            if isinstance(message, dict):
                return message

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk
            del self._stderr[:-8192]  # keep the tail only

    def _stderr_tail(self) -> str:
        return " ".join(self._stderr.decode(errors="replace").split())[-600:]

    def _clear_workdir(self) -> None:
        """Each program starts with an empty temporary folder (Deno's own cache folder stays)."""
        assert self.workdir is not None
        for entry in self.workdir.iterdir():
            if entry.name == ".deno":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _report(message: dict[str, Any], limit: int) -> ProgramResult:
    """The guest's report, trusted for nothing: types checked, sizes capped."""
    kind = message.get("kind")
    known = ("exception", "tool", "syntax", "output", "crashed")
    calls = [
        ProgramCall(name=str(c.get("name"))[:64], ok=bool(c.get("ok")), error=_text(c.get("error"), 500))
        for c in message.get("calls") or []
        if isinstance(c, dict)
    ][:1000]
    line = message.get("line")
    return ProgramResult(
        ok=bool(message.get("ok")),
        output=str(message.get("output") or "")[:limit],
        error=_text(message.get("error"), 2000),
        kind=kind if kind in known else None,
        line=line if isinstance(line, int) else None,
        where=[str(w)[:300] for w in message.get("where") or []][:5],
        calls=calls,
    )


def _text(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def _kill_all() -> None:
    """At exit: no sandbox outlives us, and neither does its temporary folder."""
    for sandbox in list(_LIVE):
        if sandbox.process is not None:
            _kill(sandbox.process)
        if sandbox.workdir is not None:
            shutil.rmtree(sandbox.workdir, ignore_errors=True)


atexit.register(_kill_all)
