"""Helpers for tests that start real MCP processes: the child's environment, free ports, waiting on a port,
and checking that no child process outlives a run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")
FIXTURES = Path(__file__).resolve().parent / "mcp_servers"


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """What a Lodestar or test-server child needs: our tree on the path, the test's home, no hub downloads."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(home)),
        "PYTHONPATH": str(REPO),
        "LODESTAR_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "OPENBLAS_NUM_THREADS": "1",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Until something accepts on 127.0.0.1:port; fails at once if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # polling a condition owned by another process
    raise AssertionError(f"nothing listened on port {port} within {timeout_s} s")


@contextmanager
def http_process(args: list[str], env: dict[str, str], port: int, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child serving Streamable HTTP on ``port``; terminated (then killed) and reaped on exit."""
    log = (cwd / f"http-server-{port}.log").open("wb")  # a file, not a pipe nobody drains: a full pipe would block
    process = subprocess.Popen([sys.executable, *args], env=env, cwd=cwd, stderr=log)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def live_children() -> list[psutil.Process]:
    """Our descendants that are still running (zombies already reaped by nobody count as gone)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


def python_children(marker: str) -> list[psutil.Process]:
    """Live descendants whose command line mentions ``marker`` (an MCP server script or ``mcp``)."""
    found = []
    for child in live_children():
        try:
            if any(marker in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found
