"""The Chroma client-server mode against a real ``chroma run`` server started here on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.core.config import Settings, load_settings
from rag.ingest import ingest_paths
from rag.retrieve import retrieve
from rag.store import client_key, reset_clients
from tests.rag_fixtures import write_corpus

pytestmark = pytest.mark.chroma_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chroma_command() -> list[str]:
    beside = Path(sys.executable).with_name("chroma")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("chroma")
    assert found, "the `chroma` CLI (from the chromadb package) is not installed"
    return [found]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [*_chroma_command(), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data / "server.log").read_text(errors="replace")[-500:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "chroma run did not answer within 60 s"
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        reset_clients()


@pytest.fixture
def server_settings(home: Path, chroma_server: int) -> Settings:
    config = home.parent / "lodestar.toml"
    config.write_text(f'[rag]\nchroma_host = "127.0.0.1"\nchroma_port = {chroma_server}\n', encoding="utf-8")
    return load_settings(config)


async def test_ingest_and_search_through_a_chroma_server(server_settings: Settings, tmp_path: Path) -> None:
    assert client_key(server_settings)[0] == "http"
    folder = write_corpus(tmp_path / "docs")
    first = ingest_paths([str(folder)], server_settings, collection="served")
    assert first.chunks_added == 3
    again = ingest_paths([str(folder)], server_settings, collection="served")
    assert again.chunks_added == 0 and again.files_unchanged == 3
    docs = await retrieve("When did GPS become operational?", server_settings, top_k=2, collection="served")
    assert docs[0].source.endswith("gps.md")
    assert not (server_settings.home / "chroma").exists()  # nothing went to the embedded store
