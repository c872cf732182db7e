"""Sandboxes started ahead of need, one per question: a fresh process each time, without waiting for its start.

Pyodide takes seconds to start. A question (one loop run) takes a sandbox from its hub's pool and gives it back when
done; the pool closes it — nothing carries over between questions — and starts the next one in the background, so
the next question (a follow-up in the TUI, the next line of a batch) finds one ready. The pool lives in
``LLMHub.resources`` and is closed with the hub, spare included.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from agent.core.config import SandboxSettings
from tools.sandbox.runner import Sandbox

KEY = "sandbox_pool"


class SandboxPool:
    def __init__(self, settings: SandboxSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self._spare: asyncio.Task[Sandbox] | None = None
        self._closed = False

    @classmethod
    def of(cls, hub: Any) -> SandboxPool:
        """The hub's pool (an ``LLMHub``; typed loosely since the hub sits in a lower layer)."""
        pool = hub.resources.get(KEY)
        if not isinstance(pool, SandboxPool):
            pool = hub.resources[KEY] = cls(hub.settings.sandbox, hub.settings.cache_dir)
        return pool

    def _launch(self) -> asyncio.Task[Sandbox]:
        async def start() -> Sandbox:
            box = Sandbox(self.settings, self.cache_dir)
            await box.start()  # on failure or cancellation it has closed itself
            return box

        return asyncio.create_task(start())

    @property
    def warm(self) -> bool:
        """Whether a started spare is waiting."""
        spare = self._spare
        return spare is not None and spare.done() and not spare.cancelled() and spare.exception() is None

    async def take(self) -> Sandbox:
        """A started sandbox of its own for the caller: the spare if there is one, else a new one."""
        task, self._spare = self._spare or self._launch(), None
        return await task

    async def give_back(self, box: Sandbox) -> None:
        """Close ``box`` and start the next question's sandbox in the background."""
        await box.close()
        if not self._closed and self._spare is None:
            self._spare = self._launch()

    async def aclose(self) -> None:
        self._closed = True
        spare, self._spare = self._spare, None
        if spare is None:
            return
        spare.cancel()
        with contextlib.suppress(BaseException):  # a spare's start-up error matters to no one now
            box = await spare
            await box.close()
