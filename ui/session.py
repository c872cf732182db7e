"""The TUI's model-server session: one :class:`LLMHub` for the app's life — started, probed, re-pointed, closed.

The hub is started in a worker after the first paint (it may start the embedded llama.cpp server). What answering
needs — httpx, aiohttp, the LLM client, the question runner, Markdown — is imported first, in a thread, so the
screen appears before any of it loads and the event loop stays free meanwhile. A question asked before the start
has finished waits for it. State changes go to ``on_change(note)`` (the status bar) and
notices to ``notify`` (the app's toasts); the session itself knows no widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from agent.core.config import ROLES, RoleSettings, Settings
from agent.core.errors import EndpointError, LodestarError
from ui.format import Display, one_line

if TYPE_CHECKING:
    from agent.llm.hub import LLMHub
    from ui.screens.settings import RoleChoice

PRELOAD = (
    "agent.llm.hub",
    "agent.llm.aiohttp_transport",
    "agent.run.question",
    "agent.run.direct",
    "ui.history",
    "ui.widgets.run",
    "textual.widgets._markdown",
)
State = Literal["starting", "ready", "error"]
Notify = Callable[..., None]  # App.notify(message, title=, severity=, timeout=)


class HubSession:
    def __init__(self, settings: Settings, fmt: Display, notify: Notify, on_change: Callable[[str | None], None]):
        self.settings = settings
        self.fmt = fmt
        self._notify = notify
        self._on_change = on_change
        self.hub: LLMHub | None = None
        self.state: State = "starting"
        self.error: str | None = None
        self._ready = asyncio.Event()
        self._probed = False

    @property
    def local_url(self) -> str | None:
        return self.hub.local_url if self.hub else None

    def roles_summary(self) -> str:
        try:
            return self.fmt.roles_summary(self.settings, self.local_url)
        except LodestarError as exc:
            return one_line(str(exc))

    async def start(self) -> None:
        """Build the hub and every role's HTTP client now, not on the first question; failures become a notice."""
        await asyncio.to_thread(lambda: [importlib.import_module(name) for name in PRELOAD])
        from agent.llm.hub import LLMHub

        hub = LLMHub(self.settings)
        self.hub = hub
        local = self.settings.uses_local
        if local:
            self._set("starting", "starting the embedded model server (llama.cpp)…")
            self._notify("No endpoint configured: starting the embedded model server…", title="model server", timeout=5)
        try:
            await hub.start()
            hub.connect_roles()
        except LodestarError as exc:
            self._failed(str(exc))
        except Exception as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
        else:
            self._set("ready")
            if local:
                self._notify("embedded model server ready", title="model server", timeout=3)
        finally:
            self._ready.set()

    def _failed(self, reason: str) -> None:
        self.error = self.fmt.text(reason)
        self._set("error", f"model server failed: {self.error}")
        self._notify(self.error, title="model server", severity="error", timeout=10)

    def _set(self, state: State, note: str | None = None) -> None:
        self.state = state
        self._on_change(note)

    async def ready_hub(self, needs_probe: bool) -> LLMHub:
        """The running hub, once started — probed first when the mode reads capabilities (once per model set)."""
        if not self._ready.is_set():
            self._on_change("waiting for the model server…")
            await self._ready.wait()
        if self.hub is None or self.error:
            raise EndpointError(f"the model server is not running: {self.error or 'closed'}")
        if needs_probe and not self._probed:
            self._on_change("probing the endpoint's capabilities…")
            await self.hub.probe_all()
            self._probed = True
            self._on_change(None)
        return self.hub

    def apply_roles(self, choices: Sequence[RoleChoice] | None) -> None:
        """Point roles at other models for this session and say so; an invalid combination is a notice and leaves
        the settings as they were."""
        if not choices:
            return
        roles = self.settings.roles
        before = {role: roles.get(role) for role in ROLES}
        changed = []
        for choice in choices:
            resolved = self.settings.role(choice.role)
            if resolved.model == choice.model and resolved.endpoints == [choice.endpoint]:
                continue
            current = roles.get(choice.role) or RoleSettings()
            roles[choice.role] = current.model_copy(update={"endpoint": choice.endpoint, "model": choice.model})
            changed.append(choice.role)
        try:
            for role in ROLES:
                self.settings.role(role)
        except LodestarError as exc:
            for role, layer in before.items():
                if layer is None:
                    roles.pop(role, None)
                else:
                    roles[role] = layer
            self._notify(one_line(str(exc)), title="settings", severity="error")
            return
        if changed:
            self._probed = False  # new models: their capabilities are probed before the next run that reads them
            self._notify(f"updated for this session: {', '.join(changed)}", title="models", timeout=3)
        self._on_change(None)

    async def close(self) -> None:
        """Close the hub (stopping the embedded server, if any); safe to call twice."""
        hub, self.hub = self.hub, None
        if hub is not None:
            with contextlib.suppress(Exception):
                await hub.aclose()
