"""Text shown in the UI: roles, URLs, durations and token counts.

``stable=True`` (snapshot tests) masks what changes between runs — loopback ports, latencies, dates — so the
rendered screens are byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.core.config import LOCAL_ENDPOINT, ROLES, Settings
from agent.core.errors import one_line
from agent.core.secrets import redact

if TYPE_CHECKING:
    from agent.core.trace import Usage

_PORT = re.compile(r"(//[^/:\s]+):\d+")


def short_json(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return one_line(text, limit)


def steady_cursors(root: object) -> None:
    """Snapshot runs: a blinking cursor would make two screenshots of the same screen differ."""
    from textual.widgets import Input

    app = getattr(root, "app", None)
    fmt = getattr(app, "fmt", None)
    if isinstance(fmt, Display) and fmt.stable:
        for box in root.query(Input):  # type: ignore[attr-defined]  # any Textual node; typed object to stay import-free
            box.cursor_blink = False


@dataclass(frozen=True)
class Display:
    stable: bool = False

    def text(self, text: str, limit: int = 300) -> str:
        """One line, secrets redacted, loopback ports masked when stable (error messages name URLs)."""
        line = one_line(text, limit)
        return _PORT.sub(r"\1:PORT", line) if self.stable else line

    def url(self, url: str) -> str:
        url = redact(url)
        return _PORT.sub(r"\1:PORT", url) if self.stable else url

    def seconds(self, value: float | None) -> str:
        if value is None:
            return "–"
        if self.stable:
            return "… s"
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"

    def when(self, epoch: float) -> str:
        return "YYYY-MM-DD HH:MM" if self.stable else time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))

    def rate(self, tokens: int, seconds: float | None) -> str:
        if self.stable or not seconds or tokens <= 0:
            return ""
        return f" · {tokens / seconds:.0f} tok/s"

    def usage(self, usage: Usage) -> str:
        calls = f"{usage.llm_calls} LLM call{'s' if usage.llm_calls != 1 else ''}"
        text = f"{calls} · {usage.prompt_tokens}+{usage.completion_tokens} tokens"
        if usage.retries:
            text += f" · {usage.retries} retr{'ies' if usage.retries != 1 else 'y'}"
        if usage.cache_hits:
            text += f" · {usage.cache_hits} cached"
        return text

    def endpoint(self, settings: Settings, name: str, local_url: str | None) -> str:
        if name == LOCAL_ENDPOINT:
            where = self.url(local_url) if local_url else "not started"
            return f"embedded llama.cpp ({where})"
        endpoint = settings.endpoints.get(name)
        if endpoint is None:
            return name
        urls = ", ".join(self.url(u) for u in endpoint.urls())
        return f"{name} ({urls})"

    def roles(self, settings: Settings, local_url: str | None) -> list[tuple[str, str, str]]:
        """(role, model, endpoint description) for every role; never a key."""
        rows = []
        for role in ROLES:
            resolved = settings.role(role)
            where = " + ".join(self.endpoint(settings, name, local_url) for name in resolved.endpoints)
            rows.append((role, resolved.model, where))
        return rows

    def roles_summary(self, settings: Settings, local_url: str | None) -> str:
        rows = self.roles(settings, local_url)
        if len({(model, where) for _, model, where in rows}) == 1:
            _, model, where = rows[0]
            return f"all roles: {model} @ {where}"
        return " · ".join(f"{role}: {model}" for role, model, _ in rows)
