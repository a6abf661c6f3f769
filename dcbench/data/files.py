"""The files a dataset names, read as users' disks hold them: links that loop, folders where a file belongs, text that
is not UTF-8. Each becomes one DatasetError naming the path, so no OSError, UnicodeDecodeError or RuntimeError
(Python 3.11's Path.resolve on a looping link) reaches the user as a traceback. Every reader goes through here."""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from pathlib import Path
from typing import NoReturn

from dcbench.data.validate import safe_join
from dcbench.errors import DatasetError

MAX_SIDE = 2**31 - 1  # an image side beyond int32 is a corrupt number, and numpy would overflow on it
_DATA_ERRORS = (ArithmeticError, AttributeError, LookupError, TypeError, ValueError, RecursionError, OSError)


def shortened(text: object, limit: int = 300) -> str:
    """``text`` with its line breaks folded, shortened: an error the CLI prints must stay on one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _os_problem(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops" if os.path.islink(path) else "passes through a symbolic link that loops"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    return f"cannot read: {exc.strerror or exc}"


def _stat(path: Path, where: str | Path | None) -> os.stat_result | None:
    """``os.stat(path)``, None when nothing is there (a missing parent counts as nothing)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            _fail(path, "is a broken symbolic link", where)
        return None
    except OSError as exc:
        _fail(path, _os_problem(path, exc), where)
    except ValueError:  # a NUL character in the path
        _fail(path, "is not a valid path", where)
    return None


def _fail(path: Path, problem: str, where: str | Path | None) -> NoReturn:
    raise DatasetError(path, problem) if where is None else DatasetError(where, f"{path} {problem}")


def is_file(path: Path, *, where: str | Path | None = None) -> bool:
    """True for a regular file, False when nothing is there. Anything else -- a folder, a link that loops or points
    nowhere, a FIFO (reading it would block forever) -- is a DatasetError: the user meant a file to be there, and
    skipping it would silently change what is read. ``where`` names the file that pointed at ``path``, if any."""
    st = _stat(path, where)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        _fail(path, "is a folder, not a file", where)
    if not stat.S_ISREG(st.st_mode):
        _fail(path, "is not a regular file", where)
    return True


def is_folder(path: Path) -> bool:
    """True for a folder, False when nothing is there; a file or a broken or looping link is a DatasetError."""
    st = _stat(path, None)
    if st is None:
        return False
    if not stat.S_ISDIR(st.st_mode):
        raise DatasetError(path, "is a file, not a folder")
    return True


def list_folder(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except OSError as exc:
        raise DatasetError(path, _os_problem(path, exc)) from None


def read_text(path: Path) -> str:
    """A UTF-8 text file (a leading byte-order mark, as Windows editors write, is not part of the first line)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, _os_problem(path, exc)) from None
    except ValueError:
        raise DatasetError(path, "is not a valid path") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, utf8_problem(data, exc)) from None


def utf8_problem(data: bytes, exc: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    return f"not UTF-8 text (line {line} holds the byte 0x{data[exc.start]:02x}); save it as UTF-8"


def read_class_names(path: Path) -> list[str]:
    """One class name per line, blank lines ignored."""
    return checked_class_names([line.strip() for line in read_text(path).splitlines() if line.strip()], path)


def checked_class_names(names: list[str], path: Path) -> list[str]:
    if not names:
        raise DatasetError(path, "no class names in file")
    dup = sorted(n for n, count in Counter(names).items() if count > 1)
    if dup:
        raise DatasetError(path, f"duplicate class names: {', '.join(dup)}")
    return names


def join_file(root: Path, name: str, *, where: str | Path) -> Path:
    """``root / name`` for a file named inside an annotation, which must exist: never outside ``root``, never a
    folder or a link that loops."""
    try:
        path = safe_join(root, name, where=where)
    except RuntimeError:  # Python 3.11 resolves a looping link with RuntimeError, not OSError
        raise DatasetError(where, f"{root / name} is a symbolic link that loops") from None
    if not is_file(path, where=where):
        raise DatasetError(where, f"image file not found: {path}")
    return path


def expand_user(path: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~name for a user this machine does not know
        raise DatasetError(path, "cannot expand '~': no such user or home folder") from None


def guard_parse(path: str | Path, parse, *args, **kwargs):
    """``parse(*args, **kwargs)``, where an unforeseen exception of the kinds malformed data raises becomes one
    DatasetError naming ``path``: the last line of defence, behind the precise messages the readers give."""
    try:
        return parse(*args, **kwargs)
    except _DATA_ERRORS as exc:
        raise DatasetError(path, f"cannot parse: {type(exc).__name__}: {shortened(exc)}") from exc
