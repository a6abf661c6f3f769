"""Where dcbench keeps what it can rebuild: generated datasets, trained teachers, extracted features."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DCBENCH_CACHE"


def cache_dir(*parts: str) -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "dcbench"
    )
    path = Path(base).expanduser().resolve().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
