"""The TUI's first paint waits for no heavy import: ``ui.app`` loads neither the ML stack nor the HTTP clients.

Checked in a fresh interpreter (this test process has long imported everything). The heavy modules load after the
first paint, when the session preloads them in a thread; bench/tui.py measures what that buys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "chromadb", "sentence_transformers", "httpx", "aiohttp", "markdown_it")


def test_importing_the_app_loads_no_heavy_module() -> None:
    code = "import json, sys; import ui.app; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    assert "ui.app" in loaded and "textual.app" in loaded  # the import really happened
    assert [name for name in HEAVY if name in loaded] == []
