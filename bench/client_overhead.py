"""What Lodestar's LLM client costs per call, against bare HTTP clients measured in the same run.

    python bench/client_overhead.py [--quick]

1. In-process, no network: ``LLM.complete`` through the real client stack (hub, balancer, replica, transport,
   wire models) over ``httpx.MockTransport``, against a bare ``httpx`` POST + JSON parse over the same transport.
   Goal: <= 1.2x.
2. Loopback, zero server latency, one call at a time, the fake OpenAI server in its own process: ``LLM.complete``
   (aiohttp underneath) against a bare aiohttp POST + JSON parse. Goal: <= 1.3x.
3. Concurrency 64 with 100 ms server latency: calls/s of ``LLM.complete`` against the ideal 640/s (goal >= 90%),
   bare aiohttp alongside.

Lodestar and its baseline alternate (blocks of 50 calls; rounds of the concurrent run) and each ratio is the median
over them, so load on a shared machine hits both sides alike. Prints a table; saves bench/results/client_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from batch import CONFIG, FakeServer  # the same endpoint config; the fake server in its own process (own GIL)
from benchio import save_results  # bench/ is the script's folder, first on sys.path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp
import httpx

from agent.core.config import load_settings
from agent.llm.hub import LLMHub

RESULTS = REPO / "bench" / "results" / "client_overhead.json"
MESSAGES = [{"role": "user", "content": "Which star guided sailors north?"}]
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 0,
    "model": "fake-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Polaris, the lodestar."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}
BODY = json.dumps(COMPLETION).encode()


def same_request(llm: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """What the bare clients send: the very body and headers Lodestar sends, so the server's work is the same."""
    return llm.build_request(MESSAGES).payload(), {"Authorization": "Bearer sk-bench", "User-Agent": "lodestar/0.1"}


def hub_for(workdir: Path, base_url: str, transport: httpx.AsyncBaseTransport | None = None) -> LLMHub:
    config = workdir / f"lodestar-{abs(hash(base_url))}.toml"
    config.write_text(CONFIG.format(base_url=base_url), encoding="utf-8")
    os.environ["LODESTAR_HOME"] = str(workdir / "home")
    return LLMHub(load_settings(config), transport=transport)


async def timed(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    """Seconds for n calls one after another."""
    started = time.perf_counter()
    for _ in range(n):
        await fn()
    return time.perf_counter() - started


async def interleaved(
    ours: Callable[[], Awaitable[Any]], bare: Callable[[], Awaitable[Any]], calls: int, block: int = 50
) -> dict[str, Any]:
    """Per-call seconds of each side, timed in alternating blocks of ``block`` calls so that both meet the same
    load on a shared machine; the ratio is the median of the blocks' ratios."""
    for fn in (ours, bare):
        await timed(fn, 20)  # connections, caches, first-call imports
    ratios: list[float] = []
    mine = theirs = 0.0
    for _ in range(max(1, calls // block)):
        a, b = await timed(ours, block), await timed(bare, block)
        ratios.append(a / b)
        mine, theirs = mine + a, theirs + b
    n = block * len(ratios)
    return {"lodestar": mine / n, "bare": theirs / n, "ratio": statistics.median(ratios), "blocks": len(ratios)}


async def rate(fn: Callable[[], Awaitable[Any]], n: int, concurrency: int) -> float:
    """Calls per second with ``concurrency`` calls in flight, n in all."""
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            await fn()

    await asyncio.gather(*(fn() for _ in range(concurrency)))  # warm the connection pools
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def alternate(ours: Callable[[], Awaitable[float]], bare: Callable[[], Awaitable[float]], rounds: int) -> dict:
    mine: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        mine.append(await ours())
        theirs.append(await bare())
    return {"lodestar": statistics.median(mine), "bare": statistics.median(theirs), "rounds": rounds}


async def in_process(workdir: Path, n: int) -> dict[str, Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        json.loads(request.content)  # a server reads the body too: the same work on both sides
        return httpx.Response(200, content=BODY, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(handler)
    base_url = "http://mock.invalid/v1"
    async with (
        hub_for(workdir, base_url, transport) as hub,
        httpx.AsyncClient(base_url=base_url, transport=transport) as bare_client,
    ):
        llm = hub.llm("summarizer")
        body, headers = same_request(llm)

        async def lodestar() -> Any:
            return await llm.complete(MESSAGES)

        async def bare() -> Any:
            response = await bare_client.post("/chat/completions", json=body, headers=headers)
            response.raise_for_status()
            return response.json()["choices"][0]["message"]["content"]

        return await interleaved(lodestar, bare, n)


def pair(llm: Any, session: aiohttp.ClientSession) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]:
    """One call through Lodestar, and the same call as a bare aiohttp POST + JSON parse."""
    body, headers = same_request(llm)

    async def lodestar() -> Any:
        return await llm.complete(MESSAGES)

    async def bare() -> Any:
        async with session.post("chat/completions", json=body, headers=headers) as response:
            response.raise_for_status()
            return json.loads(await response.read())["choices"][0]["message"]["content"]

    return lodestar, bare


async def loopback(workdir: Path, base_url: str, n: int) -> dict[str, Any]:
    async with hub_for(workdir, base_url) as hub, aiohttp.ClientSession(base_url=base_url + "/") as session:
        return await interleaved(*pair(hub.llm("summarizer"), session), n)


async def concurrent(workdir: Path, base_url: str, n: int, rounds: int, concurrency: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with (
        hub_for(workdir, base_url) as hub,
        aiohttp.ClientSession(base_url=base_url + "/", connector=connector) as session,
    ):
        lodestar, bare = pair(hub.llm("summarizer"), session)
        return await alternate(lambda: rate(lodestar, n, concurrency), lambda: rate(bare, n, concurrency), rounds)


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    n_seq = 500 if args.quick else 4000
    n_conc = 640 if args.quick else 1920
    rounds = 3 if args.quick else 5
    latency = 0.1
    ideal = 64 / latency
    workdir = Path(tempfile.mkdtemp(prefix="client-overhead-"))
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_before": load()}
    results["in_process"] = await in_process(workdir, n_seq)
    with FakeServer(0.0) as server:
        results["loopback"] = await loopback(workdir, server.base_url, n_seq)
    with FakeServer(latency) as server:
        concurrency = await concurrent(workdir, server.base_url, n_conc, max(2, rounds - 2), 64)
    concurrency.update(
        ideal=ideal,
        lodestar_vs_ideal=concurrency["lodestar"] / ideal,
        bare_vs_ideal=concurrency["bare"] / ideal,
        lodestar_vs_bare=concurrency["lodestar"] / concurrency["bare"],  # what is left when the server is the limit
    )
    results["concurrency_64"] = concurrency
    results["load_after"] = load()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    inp, loop, conc = results["in_process"], results["loopback"], results["concurrency_64"]
    print(f"load: {results['load_before']}")
    print(
        f"in-process (MockTransport): lodestar {inp['lodestar'] * 1e6:.0f} µs/call, bare httpx "
        f"{inp['bare'] * 1e6:.0f} µs/call -> {inp['ratio']:.2f}x (goal <= 1.2x)"
    )
    print(
        f"loopback, zero latency:     lodestar {loop['lodestar'] * 1e6:.0f} µs/call, bare aiohttp "
        f"{loop['bare'] * 1e6:.0f} µs/call -> {loop['ratio']:.2f}x (goal <= 1.3x)"
    )
    print(
        f"concurrency 64, 100 ms:     lodestar {conc['lodestar']:.0f} calls/s = {conc['lodestar_vs_ideal']:.0%} of "
        f"{conc['ideal']:.0f}/s (goal >= 90%), bare aiohttp {conc['bare']:.0f}/s = {conc['bare_vs_ideal']:.0%} "
        f"(lodestar/bare {conc['lodestar_vs_bare']:.2f})"
    )
    print(f"load: {results['load_after']}")
    save_results(args.out, results)


if __name__ == "__main__":
    main()
