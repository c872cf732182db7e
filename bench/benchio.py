"""What every benchmark does last: write its figures as JSON under bench/results and say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: The shared data sets sit next to the checkout (``../shared/data``), wherever it is cloned; scripts also take a
#: path argument or environment variable for other layouts.
SHARED_DATA = REPO.parent / "shared" / "data"


def save_results(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    try:
        shown: Path = path.resolve().relative_to(REPO)
    except ValueError:
        shown = path
    print(f"saved {shown}", flush=True)
