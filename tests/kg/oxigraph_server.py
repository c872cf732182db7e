"""A real ``oxigraph serve`` process for tests: loaded from N-Triples, ready when its HTTP endpoint answers,
killed (with its process group) at teardown so no server outlives the test run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def oxigraph_binary() -> str:
    found = shutil.which("oxigraph") or str(Path(sys.executable).parent / "oxigraph")
    if not Path(found).is_file():
        raise RuntimeError("the `oxigraph` CLI is missing: pip install -e '.[dev]' (it is in the dev extra)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OxigraphServer:
    def __init__(self, data: Path | None, location: Path) -> None:
        """``data``: an N-Triples file loaded first; None serves the store already at ``location``."""
        self.data, self.location = data, location
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/query"
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_timeout_s = 60.0

    def __enter__(self) -> OxigraphServer:
        binary = oxigraph_binary()
        if self.data is not None:
            subprocess.run(
                [binary, "load", "--location", str(self.location), "--file", str(self.data)],
                check=True,
                capture_output=True,
                timeout=120,
            )
        self.process = subprocess.Popen(
            [binary, "serve", "--location", str(self.location), "--bind", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: teardown kills everything it started
        )
        try:
            self._wait_ready(timeout_s=self.ready_timeout_s)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Poll the endpoint with a real query until it answers (or the process dies, or time runs out)."""
        deadline = time.monotonic() + timeout_s
        query = urllib.parse.urlencode({"query": "ASK { ?s ?p ?o }"}).encode()
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"oxigraph serve exited with {self.process.returncode}: {err[-500:]}")
            try:
                request = urllib.request.Request(
                    self.url, data=query, headers={"Accept": "application/sparql-results+json"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)  # a poll interval, not a wait for an outcome: readiness is the condition above
        raise RuntimeError(f"oxigraph serve did not answer at {self.url} within {timeout_s} s")

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process.stderr:
            self.process.stderr.close()
