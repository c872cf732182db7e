"""Streaming an answer into a Markdown widget from a synchronous ``on_delta`` callback.

It does what Textual's ``MarkdownStream`` does — pieces that arrive faster than the widget can render are
coalesced into one ``Markdown.append`` (which re-parses only the last block, never the whole message) — but
``feed`` is synchronous, because the agent calls ``on_delta(piece)`` from inside its own coroutine.

Secrets: text is rendered up to the last whitespace only, each span passed through ``display_text`` (redacted,
terminal controls removed). A key has no whitespace, so one echoed by the model is replaced before any part of it
reaches the screen (the cost: the word being written appears when the next one starts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from agent.core.terminal import display_text

if TYPE_CHECKING:
    from textual.widgets import Markdown


class LiveMarkdown:
    def __init__(
        self, markdown: Markdown, on_render: Callable[[], None] | None = None, ready: Awaitable[object] | None = None
    ) -> None:
        self.markdown = markdown
        self._ready = ready  # e.g. the widget's mount: pieces fed before it completes are buffered
        self.on_render = on_render  # after each append lands (e.g. keep the chat scrolled)
        self.text = ""  # everything fed so far
        self.rendered_chars = 0
        self.appends = 0  # how many Markdown.append calls rendered the stream (fewer than pieces when coalesced)
        self.first_render_at: float | None = None  # perf_counter when the first piece was on screen
        self.last_render_at: float | None = None
        self.first_fed_at: float | None = None  # perf_counter of the first and last piece received
        self.last_fed_at: float | None = None
        self._emitted = 0  # characters of ``text`` already handed to the widget
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> LiveMarkdown:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="live-markdown")
        return self

    def feed(self, piece: str) -> None:
        if not piece or self._closing:
            return
        self.last_fed_at = time.perf_counter()
        self.first_fed_at = self.first_fed_at or self.last_fed_at
        self.text += piece
        self._wake.set()

    def _safe_end(self) -> int:
        """Index just after the last whitespace: everything before it is whole words."""
        end = len(self.text)
        while end > self._emitted and not self.text[end - 1].isspace():
            end -= 1
        return end

    async def _run(self) -> None:
        if self._ready is not None:
            await self._ready
        while True:
            await self._wake.wait()
            self._wake.clear()
            end = len(self.text) if self._closing else self._safe_end()
            if end > self._emitted:
                chunk = display_text(self.text[self._emitted : end])
                self._emitted = end
                try:
                    await self.markdown.append(chunk)
                except Exception:
                    return
                now = time.perf_counter()
                self.rendered_chars += len(chunk)
                self.appends += 1
                self.first_render_at = self.first_render_at or now
                self.last_render_at = now
                if self.on_render is not None:
                    self.on_render()
            if self._closing and self._emitted >= len(self.text):
                return

    async def finish(self) -> None:
        """Render whatever is still pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.shield(self._task)
