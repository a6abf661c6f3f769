"""Low-level helpers every layer uses: atomic writes of files and folders, stable short hashes, checksums,
writable output folders, locks, the leftovers of killed processes, and reading an image onto a letterboxed canvas.

What is in flight carries the writer's pid beside its final path and is renamed into place when complete: files and
condensed sets as ``.<name>.partial<pid>``, cache folders (teachers, generated datasets) as ``<name>.partial<pid>``,
which :func:`remove_dead_partials` finds when their process is gone.
``durable=True`` fsyncs before the rename, for the files whose presence means "finished" (a cell's result, a
condensed set's record): after a crash they are either complete or absent.
"""

from __future__ import annotations

import contextvars
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dcbench.errors import ConfigError


def partial_name(path: Path) -> Path:
    """Where ``path`` is written before it is complete: ``.<name>.partial<pid>`` in the same folder."""
    return path.with_name(f".{path.name}.partial{os.getpid()}")


def atomic_write(path: str | Path, write: Callable[[Path], Any], *, durable: bool = False) -> Path:
    """``write(tmp)`` writes the file; it appears at ``path`` only once complete (renamed in one step). Nothing is
    left behind when it fails or is interrupted (Ctrl-C included); an OSError (a full disk, a read-only folder)
    is re-raised naming ``path`` itself, not the partial name the user never asked for."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; a file goes there (remove the folder or choose another name)")
    tmp = partial_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise os_error_at(path, exc) from None
    finally:
        with suppress(OSError):  # a cleanup that fails must not hide why the write failed
            tmp.unlink(missing_ok=True)
    return path


def os_error_at(path: str | Path, exc: OSError) -> OSError:
    """``exc`` as the same kind of OSError naming ``path``: what the user wrote to, not an inner or partial name."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))  # OSError picks the subclass


def atomic_write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable=durable)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = False) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=durable)


# C0 and C1 controls and Unicode's own line and paragraph separators: everything str.splitlines breaks at
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_CONTROL |= {c: f"\\u{c:04x}" for c in (0x2028, 0x2029)}


def one_line(text: str) -> str:
    """``text`` with its line breaks and other control characters escaped (``\\n``, ``\\x1b``): a message that
    quotes a file name or a value from a file stays one line, and never sends a terminal an escape sequence."""
    return text.translate(_CONTROL)


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words, for a message about a file that holds the wrong kind."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def stable_hash(value: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of the sha256 of ``value``: a string or bytes as they are, anything else as
    its JSON with sorted keys (the same on every machine and Python version)."""
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bytes):
        data = value
    else:
        data = json.dumps(value, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:length]


def usable_dir(path: str | Path, *, what: str = "output folder") -> Path:
    """The checks of :func:`writable_dir` that need not create anything, for before a command's slow start (a
    dataset to generate, a spec to check): ``path`` is not a file, does not lie under one or through a symlink loop,
    and its nearest existing folder is writable."""
    path = resolved(path, what=what)
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


def resolved(path: str | Path, *, what: str = "output folder") -> Path:
    """``path`` made absolute with its links followed, or a ConfigError naming it: a symlink loop makes pathlib
    raise RuntimeError (Python < 3.13) or OSError (since)."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            problem = "a symlink loop"
        else:
            problem = exc.strerror or type(exc).__name__
        raise ConfigError(f"{path}: the {what} cannot be used ({problem})") from None


def writable_dir(path: str | Path, *, what: str = "output folder") -> Path:
    """``path`` resolved, checked (:func:`usable_dir`) and created, or a one-line ConfigError naming it: found before
    a teacher trains for an hour, not when the result is written."""
    path = usable_dir(path, what=what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: the {what} cannot be created ({exc.strerror or type(exc).__name__})") from None
    return path


class LockHeld(Exception):
    """``exclusive(..., wait=False)``: another process holds the lock, and the caller chose not to wait for it."""


# what exclusive() does when another process holds its lock, unless told otherwise: set for a whole piece of work by
# waiting_for_locks(), so that the locks taken deep inside it (a teacher, a shared condensed set) follow its caller
_WAIT = contextvars.ContextVar("dcbench_io_wait_for_locks", default=True)


@contextmanager
def waiting_for_locks(wait: bool) -> Iterator[None]:
    """Within the block, every :func:`exclusive` not given ``wait`` waits for a held lock (``True``) or raises
    :class:`LockHeld` at once (``False``): a lane that may come back to a cell later gives it up at the first lock
    another process holds, whichever layer takes it, instead of idling through another lane's teacher."""
    token = _WAIT.set(wait)
    try:
        yield
    finally:
        _WAIT.reset(token)


@contextmanager
def exclusive(lock_file: str | Path, *, waiting: str, note=None, wait: bool | None = None) -> Iterator[None]:
    """A file lock (``filelock``) held for a piece of work another process may be doing at the same moment (the same
    teacher, the same condensed set): the second process waits for the first and says so once, then finds the
    work done instead of doing it twice. ``wait=False``: raise :class:`LockHeld` instead of waiting, so the caller
    can do other work first (taking the lock is the only race-free test of whether another process has it);
    ``None``: as the enclosing :func:`waiting_for_locks` says, waiting outside one."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not (_WAIT.get() if wait is None else wait):
            raise LockHeld(str(lock_file)) from None
        if note is not None:
            note(f"{waiting} (lock {lock_file})")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


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


# -- images: reading and letterboxing (backends, DCOD's canvases and OD3's crops share one placement rule) -------
PAD_VALUE = 114  # grey padding, as YOLO letterboxing uses


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed on a square canvas: ``canvas = image * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float

    def boxes_to_canvas(self, boxes: np.ndarray) -> np.ndarray:
        out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * self.scale
        out[:, [0, 2]] += self.pad_x
        out[:, [1, 3]] += self.pad_y
        return out


def letterbox(path, size: int) -> tuple[np.ndarray, Letterbox]:
    """(size, size, 3) uint8 RGB canvas holding the image resized to fit, centred, and how it was placed."""
    from PIL import Image

    from dcbench.data.images import open_rgb

    im = open_rgb(path)
    w, h = im.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = im.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = np.asarray(resized)
    return canvas, Letterbox(scale, float(px), float(py))
