"""Where dcbench keeps what it can rebuild: generated datasets, trained teachers, extracted features."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DCBENCH_CACHE"

# cache folders found writable in this process: the probe is written once per folder, not at every lookup
_CHECKED: set[Path] = set()


def cache_dir(*parts: str) -> Path:
    """``$DCBENCH_CACHE/<parts>`` (else ``$XDG_CACHE_HOME/dcbench``, else ``~/.cache/dcbench``), created; a cache
    that cannot be used (read-only, under a file, a symlink loop) is a one-line ConfigError naming it and the
    variable that moves it, found before anything is generated or trained into it."""
    from dcbench.io import usable_dir

    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "dcbench"
    )
    what = f"dcbench cache folder (set {CACHE_ENV} to use another)"
    root = usable_dir(base, what=what) if Path(base) not in _CHECKED else Path(base).expanduser().resolve()
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from dcbench.errors import ConfigError

        raise ConfigError(f"{path}: the {what} cannot be created ({exc.strerror or type(exc).__name__})") from None
    _CHECKED.add(Path(base))
    return path
