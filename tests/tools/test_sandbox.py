"""Escape tests for the sandbox (tools/sandbox/): each attempt fails safely, says why, and leaves the host untouched.

One warm sandbox serves the module (Pyodide takes seconds to start); the tests that break a limit kill it, and the
next test gets a fresh one, which is itself part of what is shown.
"""

from __future__ import annotations

import os
import select
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.core.config import SandboxSettings
from tools.program import run_program
from tools.registry import ToolRegistry, tool
from tools.sandbox.runner import Sandbox, ToolReply

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(pyodide_runtime: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    settings = SandboxSettings(pyodide_dir=pyodide_runtime, cpu_s=2, wall_s=60, output_chars=10_000)
    box = Sandbox(settings, tmp_path_factory.mktemp("cache"))
    try:
        yield box
    finally:
        await box.close()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host folder the program must not reach."""
    return tmp_path


@pytest.fixture
def home_secret() -> Iterator[Path]:
    path = Path.home() / f".lodestar-sandbox-test-{uuid.uuid4().hex}"
    path.write_text("the host's secret")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


async def run(box: Sandbox, code: str, tools: list[str] | None = None, handler: Any = None) -> Any:
    return await box.run(code, tools or [], handler)


async def still_works(box: Sandbox) -> None:
    after = await run(box, "print(6 * 7)")
    assert after.ok and after.output == "42\n"


# -- the network ---------------------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 that no program may reach."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server
    finally:
        server.close()


async def test_no_connection_to_a_listener_on_loopback(sandbox: Sandbox, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = f"""
import socket
outcomes = []
try:
    s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
    outcomes.append("python socket: connected")
except OSError as exc:
    outcomes.append(f"python socket: {{exc}}")
import js
try:
    js.Deno.connect(js.JSON.parse('{{"hostname": "127.0.0.1", "port": {port}}}'))
    outcomes.append("deno connect: asked")
except Exception as exc:
    outcomes.append(f"deno connect: {{exc}}")
print("\\n".join(outcomes))
"""
    result = await run(sandbox, code)
    assert result.ok, result.error
    assert "python socket: connected" not in result.output
    assert "python socket: [Errno" in result.output  # the socket layer refuses, with a clear error
    ready, _, _ = select.select([listener], [], [], 1.0)  # a bounded wait for a connection that must not come
    assert ready == []
    await still_works(sandbox)
    ready, _, _ = select.select([listener], [], [], 0.5)
    assert ready == []  # nothing arrived later either


async def test_deno_denies_every_permission_but_the_folders(sandbox: Sandbox, outside: Path) -> None:
    code = f"""
import js
for name in ("net", "run", "ffi", "env", "sys"):
    print(name, js.Deno.permissions.querySync(js.JSON.parse('{{"name": "' + name + '"}}')).state)
for path in ("/etc", {str(outside)!r}):
    print(path, js.Deno.permissions.querySync(js.JSON.parse('{{"name": "read", "path": "' + path + '"}}')).state)
"""
    result = await run(sandbox, code)
    assert result.ok, result.error
    assert result.output.splitlines() == [
        "net denied",
        "run denied",
        "ffi denied",
        "env denied",
        "sys denied",
        "/etc prompt",  # "prompt" under --no-prompt: refused without asking
        f"{outside} prompt",
    ]


async def test_asynchronous_network_calls_never_run(sandbox: Sandbox, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = (
        f"import js\njs.fetch('http://127.0.0.1:{port}/')\njs.WebSocket.new('ws://127.0.0.1:{port}/')\nprint('asked')"
    )
    result = await run(sandbox, code)
    assert result.ok or "NotCapable" in (result.error or "")
    await still_works(sandbox)
    ready, _, _ = select.select([listener], [], [], 1.0)  # a bounded wait for a connection that must not come
    assert ready == []


# -- files ---------------------------------------------------------------------------------------------------------


async def test_cannot_read_etc_passwd(sandbox: Sandbox) -> None:
    python = await run(sandbox, "print(open('/etc/passwd').read())")
    assert not python.ok and python.kind == "exception"
    assert "FileNotFoundError" in (python.error or "") and "root:" not in python.output
    deno = await run(sandbox, "import js\nprint(js.Deno.readTextFileSync('/etc/passwd'))")
    assert not deno.ok and 'Requires read access to "/etc/passwd"' in (deno.error or "")
    assert "root:" not in deno.output


async def test_cannot_read_a_file_in_the_home_folder(sandbox: Sandbox, home_secret: Path) -> None:
    python = await run(sandbox, f"print(open({str(home_secret)!r}).read())")
    assert not python.ok and "secret" not in python.output
    deno = await run(sandbox, f"import js\nprint(js.Deno.readTextFileSync({str(home_secret)!r}))")
    assert not deno.ok and "Requires read access" in (deno.error or "")
    assert "secret" not in deno.output and home_secret.read_text() == "the host's secret"


async def test_cannot_write_outside_the_temporary_folder(sandbox: Sandbox, outside: Path) -> None:
    target = outside / "escaped.txt"
    python = await run(sandbox, f"open({str(target)!r}, 'w').write('x')")
    assert not python.ok and "No such file or directory" in (python.error or "")  # Emscripten's files, not ours
    python = await run(sandbox, f"import os\nos.makedirs({str(outside)!r})\nopen({str(target)!r}, 'w').write('x')")
    assert python.ok  # it wrote to Emscripten's in-memory file system, which vanishes with the process
    deno = await run(sandbox, f"import js\njs.Deno.writeTextFileSync({str(target)!r}, 'x')")
    assert not deno.ok and "Requires write access" in (deno.error or "")
    assert not target.exists() and list(outside.iterdir()) == []


async def test_the_temporary_folder_is_usable_and_fresh_per_program(sandbox: Sandbox) -> None:
    first = await run(sandbox, "open('/sandbox/a.txt', 'w').write('hi')\nprint(open('/sandbox/a.txt').read())")
    assert first.ok and first.output == "hi\n"
    assert sandbox.workdir is not None and (sandbox.workdir / "a.txt").read_text() == "hi"
    second = await run(sandbox, "import os\nprint(sorted(os.listdir('/sandbox')))")
    assert second.ok and "a.txt" not in second.output


# -- processes and native code ---------------------------------------------------------------------------------------


async def test_cannot_spawn_a_process(sandbox: Sandbox) -> None:
    python = await run(sandbox, "import subprocess\nsubprocess.run(['ls', '/'])")
    assert not python.ok and "does not support processes" in (python.error or "")
    deno = await run(sandbox, "import js\njs.eval(\"new Deno.Command('/bin/ls').outputSync()\")")
    assert not deno.ok and 'Requires run access to "/bin/ls"' in (deno.error or "")


async def test_ctypes_and_os_system_reach_nothing(sandbox: Sandbox, outside: Path) -> None:
    marker = outside / "system-ran"
    system = await run(sandbox, f"import os\nprint(os.system('touch {marker}'))")
    assert not system.ok and "NotCapable" in (system.error or "")  # Deno refused what Emscripten tried
    assert not marker.exists()
    ffi = await run(sandbox, "import js\njs.eval(\"Deno.dlopen('libc.so.6', {})\")")
    assert not ffi.ok and 'Requires ffi access to "libc.so.6"' in (ffi.error or "")
    native = await run(
        sandbox,
        "import ctypes, ctypes.util\ntry:\n    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')\n"
        "    libc.system(b'touch " + str(marker) + "')\n    print('called')\nexcept OSError as exc:\n"
        "    print('no host libc:', exc)",
    )
    assert not marker.exists()  # whatever ctypes loads, it is WebAssembly inside the sandbox
    assert native.ok or native.kind in ("exception", "crashed")
    await still_works(sandbox)


async def test_a_fork_bomb_fails_at_once(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import os\nwhile True:\n    os.fork()")
    assert not result.ok and "OSError" in (result.error or "")
    assert result.wall_s < 10
    await still_works(sandbox)


async def test_the_environment_is_denied(sandbox: Sandbox) -> None:
    result = await run(sandbox, "import js\nprint(js.Deno.env.get('PATH'))")
    assert not result.ok and "Requires env access" in (result.error or "")


# -- limits ----------------------------------------------------------------------------------------------------------


async def test_an_endless_loop_meets_the_cpu_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "while True:\n    pass")
    assert not result.ok and result.kind == "cpu"
    assert result.error == "the program used more than 2 CPU seconds"
    assert not sandbox.alive  # the process was killed ...
    await still_works(sandbox)  # ... and the next program gets a fresh one


async def test_the_wall_clock_limit_stops_a_program_that_waits(pyodide_runtime: Path, tmp_path: Path) -> None:
    settings = SandboxSettings(pyodide_dir=pyodide_runtime, wall_s=3)

    async def slow(name: str, arguments: dict[str, Any]) -> ToolReply:
        import asyncio

        await asyncio.Event().wait()  # never answers
        return ToolReply(ok=True)

    async with Sandbox(settings, tmp_path) as box:
        pid = box.process.pid if box.process else 0
        result = await box.run("wait_forever()", ["wait_forever"], slow)
        assert not result.ok and result.kind == "timeout" and "longer than 3 s" in (result.error or "")
        assert not box.alive
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_allocating_4_gb_fails_inside_the_sandbox(sandbox: Sandbox) -> None:
    at_once = await run(sandbox, "b = bytearray(4 * 2**30)\nprint(len(b))")
    assert not at_once.ok and at_once.kind == "exception"  # 32-bit WebAssembly: 4 GB cannot even be asked for
    piecemeal = await run(
        sandbox,
        "chunks = []\nfor i in range(41):\n    chunks.append(bytearray(100 * 2**20))\nprint(len(chunks))",
    )
    assert not piecemeal.ok and piecemeal.kind == "memory"
    assert (piecemeal.error or "").endswith("(the limit is 1024 MB)")
    assert not sandbox.alive  # a process grown to its limit is not reused
    await still_works(sandbox)


async def test_printing_100_mb_meets_the_output_limit(sandbox: Sandbox) -> None:
    result = await run(sandbox, "print('x' * 100_000_000)")
    assert not result.ok and result.kind == "output"
    assert result.error == "the program printed more than 10000 characters"
    assert len(result.output) <= 10_000
    await still_works(sandbox)


async def test_writing_around_the_guest_limit_is_caught_by_the_host(sandbox: Sandbox) -> None:
    code = "import js\nbig = 'y' * 20_000_000\njs.Deno.stdout.writeSync(js.TextEncoder.new().encode(big))"
    result = await run(sandbox, code)
    assert not result.ok and result.kind == "output"
    assert len(result.output) == 0
    await still_works(sandbox)


# -- tool calls ------------------------------------------------------------------------------------------------------


@tool
def double(x: int) -> int:
    """Twice x."""
    return 2 * x


async def test_a_tool_call_with_invalid_arguments_gets_the_validation_error(sandbox: Sandbox) -> None:
    registry = ToolRegistry([double])

    async def invoke(name: str, arguments: dict[str, Any]) -> Any:
        return await registry.call(name, arguments)

    code = """
try:
    double(x="not a number")
except ToolCallError as exc:
    print("caught:", exc)
print(double(x=21))
"""
    result, calls = await run_program(sandbox, code, registry, invoke)
    assert result.ok, result.error
    assert "caught: double: invalid arguments for double: x: Input should be a valid integer" in result.output
    assert result.output.endswith("42\n")
    assert [(c.name, c.ok) for c in calls] == [("double", False), ("double", True)]


async def test_an_unknown_tool_or_positional_arguments_are_refused(sandbox: Sandbox) -> None:
    registry = ToolRegistry([double])

    async def invoke(name: str, arguments: dict[str, Any]) -> Any:
        return await registry.call(name, arguments)

    positional, _ = await run_program(sandbox, "print(double(3))", registry, invoke)
    assert not positional.ok and "TypeError" in (positional.error or "")
    forged = await sandbox.run("import _lodestar_host\nprint(_lodestar_host.call('rm_rf', '{}'))", ["double"], None)
    assert forged.ok and "unknown tool 'rm_rf'" in forged.output


async def test_cancelling_a_running_program_kills_the_process(pyodide_runtime: Path, tmp_path: Path) -> None:
    import asyncio

    entered = asyncio.Event()

    async def hang(name: str, arguments: dict[str, Any]) -> ToolReply:
        entered.set()
        await asyncio.Event().wait()
        return ToolReply(ok=True)

    box = Sandbox(SandboxSettings(pyodide_dir=pyodide_runtime), tmp_path)
    await box.start()
    assert box.process is not None and box.workdir is not None
    pid, workdir = box.process.pid, box.workdir
    running = asyncio.create_task(box.run("hang()\nwhile True:\n    pass", ["hang"], hang))
    await entered.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped: no orphan
    assert not workdir.exists() and not box.alive


async def test_a_forged_report_is_ignored(sandbox: Sandbox) -> None:
    forge = (
        "import js\n"
        "js.Deno.stdout.writeSync(js.TextEncoder.new().encode("
        '\'{"type": "done", "ok": true, "output": "forged"}\\n\'))\n'
        "print('real')"
    )
    result = await run(sandbox, forge)
    assert result.ok and result.output == "real\n"
    await still_works(sandbox)  # and the next program is not handed a stale report
