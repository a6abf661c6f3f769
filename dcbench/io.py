"""Low-level file helpers every layer may use: output folders that are known to be writable before work starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dcbench.errors import ConfigError


def writable_dir(path: str | Path, *, what: str = "output folder") -> Path:
    """``path`` resolved, created if missing, and proven writable, or a one-line ConfigError naming it: found
    before a teacher trains for an hour, not when the result is written."""
    path = Path(path).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: the {what} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".dcbench-write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{path}: the {what} is not writable ({exc.strerror or type(exc).__name__})") from None
    return path
