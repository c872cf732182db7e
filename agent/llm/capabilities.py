"""What an endpoint really does, found by probing it once and cached under ``LODESTAR_HOME/cache``.

Algorithms read these flags to pick their documented fallback (MAIN-RAG's judge without logprobs, the loop's
text-format tool calls without native tool calls, prompt-and-repair JSON without json_schema) instead of failing.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

CACHE_TTL_S = 7 * 24 * 3600


FEATURES = ("streaming", "logprobs", "json_schema", "json_object", "tool_calls")  # json_object_schema: an extension


class Capabilities(BaseModel):
    """Optimistic defaults for OpenAI itself; a probe replaces them with what the server showed."""

    streaming: bool = True
    logprobs: bool = True
    json_schema: bool = True
    json_object: bool = True
    json_object_schema: bool = False  # llama.cpp's extension: {"type": "json_object", "schema": {...}} as a grammar
    tool_calls: bool = True
    context_length: int | None = None
    probed: bool = False
    probed_at: float | None = None
    endpoint: str = ""
    model: str = ""
    notes: dict[str, str] = Field(default_factory=dict, description="why a capability was found missing")
    unsure: list[str] = Field(
        default_factory=list, description="features whose probe met a transient failure: probed again next time"
    )

    def missing(self) -> list[str]:
        """The features a probe found definitively missing."""
        return [name for name in FEATURES if not getattr(self, name) and name not in self.unsure]


def _cache_path(cache_dir: Path, url: str, model: str) -> Path:
    key = hashlib.sha256(f"{url}\0{model}".encode()).hexdigest()[:16]
    return cache_dir / "capabilities" / f"{key}.json"


def load_cached(cache_dir: Path, url: str, model: str) -> Capabilities | None:
    path = _cache_path(cache_dir, url, model)
    try:
        caps = Capabilities.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None
    if caps.probed_at is None or time.time() - caps.probed_at > CACHE_TTL_S:
        return None
    return caps


def save_cached(cache_dir: Path, caps: Capabilities) -> None:
    path = _cache_path(cache_dir, caps.endpoint, caps.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(caps.model_dump_json(indent=2), encoding="utf-8")
