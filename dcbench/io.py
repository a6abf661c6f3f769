"""Low-level file helpers every layer may use: writable output folders, checksums, and the leftovers of killed
processes (temporary names end in ``.partial<pid>``)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from dcbench.errors import ConfigError


def usable_dir(path: str | Path, *, what: str = "output folder") -> Path:
    """The checks of :func:`writable_dir` that need not create anything, for before a command's slow start (a
    dataset to generate, a spec to check): ``path`` is not a file, does not lie under one, and its nearest existing
    folder is writable."""
    path = Path(path).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: the {what} is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{path}: the {what} lies under a file ({existing})")
    try:  # a probe file, removed at once: os.access says yes to root even on a read-only mount
        fd, probe = tempfile.mkstemp(prefix=".dcbench-write-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{path}: the {what} is not writable ({exc.strerror or type(exc).__name__})") from None
    return path


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


def exclusive(lock_file: str | Path, *, waiting: str, note=None):
    """A file lock (``filelock``) held for a piece of work another process may be doing at the same moment (the same
    teacher, the same condensed set): the second process waits for the first and says so once, then finds the
    work done instead of doing it twice."""
    from contextlib import contextmanager

    from filelock import FileLock, Timeout

    @contextmanager
    def held():
        lock = FileLock(str(lock_file))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if note is not None:
                note(f"{waiting} (lock {lock_file})")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    return held()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_dead_partials(folder: str | Path, stem: str) -> list[Path]:
    """Remove ``<stem>.partial<pid>`` leftovers in ``folder`` whose process is gone (a SIGKILL leaves them); the
    work of a live process, this one included, is left alone. Returns what was removed."""
    removed = []
    for p in Path(folder).glob(f"{stem}.partial*"):
        m = re.fullmatch(re.escape(stem) + r"\.partial(\d+)", p.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed
