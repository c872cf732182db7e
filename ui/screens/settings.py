"""Endpoint and model per role, switchable for this session. API keys are never shown: only whether one is set."""

from __future__ import annotations

from pydantic import BaseModel
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from agent.core.config import LOCAL_ENDPOINT, ROLES, Settings
from ui.format import Display, steady_cursors


class RoleChoice(BaseModel):
    role: str
    endpoint: str
    model: str


def endpoint_names(settings: Settings) -> list[str]:
    names = list(settings.endpoints)
    return names if names else [LOCAL_ENDPOINT]


def key_status(settings: Settings, name: str) -> str:
    endpoint = settings.endpoints.get(name)
    if endpoint is None:
        return "no key needed"
    if endpoint.api_key is not None:
        return "key: set in config"
    if endpoint.api_key_env:
        present = "set" if endpoint.resolved_api_key() else "not set"
        return f"key: ${endpoint.api_key_env} ({present})"
    return "no key"


class SettingsScreen(ModalScreen[list[RoleChoice] | None]):
    """Dismisses with the new choice for every role, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel"), Binding("ctrl+s", "apply", "Apply", priority=True)]

    def __init__(self, settings: Settings, display: Display, local_url: str | None) -> None:
        super().__init__(classes="modal")
        self.settings = settings
        self.fmt = display
        self.local_url = local_url

    def compose(self) -> ComposeResult:
        names = endpoint_names(self.settings)
        with Vertical(classes="dialog settings-dialog"):
            yield Static("Models per role (this session)", classes="dialog-title")
            with VerticalScroll():
                with Grid(id="roles-grid"):
                    for header in ("role", "endpoint", "model"):
                        yield Static(header, classes="grid-header")
                    for role in ROLES:
                        resolved = self.settings.role(role)
                        current = resolved.endpoints[0] if resolved.endpoints[0] in names else names[0]
                        yield Static(role, classes="role-name")
                        yield Select(
                            [(n, n) for n in names],
                            value=current,
                            allow_blank=False,
                            id=f"endpoint-{role}",
                            compact=True,
                        )
                        yield Input(resolved.model, id=f"model-{role}", compact=True)
                yield Static(self._endpoints_text(), id="endpoints-info")
            with Horizontal(classes="buttons"):
                yield Button("Apply (Ctrl+S)", id="apply", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        steady_cursors(self)

    def _endpoints_text(self) -> Text:
        text = Text()
        for name in endpoint_names(self.settings):
            endpoint = self.settings.endpoints.get(name)
            where = (
                ", ".join(self.fmt.url(u) for u in endpoint.urls())
                if endpoint is not None
                else self.fmt.endpoint(self.settings, name, self.local_url)
            )
            text.append(f"{name}", "bold")
            text.append(f"  {where}  ")
            text.append(key_status(self.settings, name) + "\n", "dim")
        text.append("Multi-replica endpoints, sampling and new endpoints: edit lodestar.toml.", "dim")
        return text

    def choices(self) -> list[RoleChoice]:
        out = []
        for role in ROLES:
            endpoint = self.query_one(f"#endpoint-{role}", Select).value
            model = self.query_one(f"#model-{role}", Input).value.strip()
            out.append(RoleChoice(role=role, endpoint=str(endpoint), model=model))
        return out

    def action_apply(self) -> None:
        choices = self.choices()
        empty = [c.role for c in choices if not c.model]
        if empty:
            self.app.notify(f"model for {', '.join(empty)} is empty", severity="error")
            return
        self.dismiss(choices)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        else:
            self.dismiss(None)
