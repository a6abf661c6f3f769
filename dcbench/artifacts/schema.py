"""The shape of a condensed set's ``manifest.json``: a UTF-8 JSON object with a ``method``, and the keys that
dcbench reads (the card, ``dcbench eval``'s result, the leaderboard, the cell's reuse check) of the types it reads
them as. Other keys are the method's own and pass as they are. A manifest that is not so is one line naming the
file and the key, wherever it is read: on import, when a set is loaded, before it is evaluated or exported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dcbench.errors import DatasetError
from dcbench.io import json_kind
from dcbench.results import FULL_KIND

MAX_MANIFEST_BYTES = 64 << 20  # DCOD's loss history is the largest part of a real one, at a few hundred kB


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _one_line(v: Any) -> bool:
    # the card prints it in a table row: a line break would end the table
    return isinstance(v, str) and (v == "" or v.splitlines() == [v])


def _teacher(v: Any) -> bool:
    if v is None:
        return True
    if not isinstance(v, dict):
        return False
    return all(k not in v or v[k] is None or isinstance(v[k], str) for k in ("checkpoint", "detector"))


def _ids(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(i, str) or _is_int(i) for i in v)


# key: (what it must be, as the message says it; the check)
FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "method": ("a non-empty one-line string", lambda v: _one_line(v) and v.strip() != ""),
    "kind": ("a one-line string", _one_line),
    "budget": ("a whole number >= 1", lambda v: _is_int(v) and v >= 1),
    "n_train": ("a whole number >= 1", lambda v: _is_int(v) and v >= 1),
    "ratio": ("a number in (0, 1]", lambda v: _is_number(v) and 0 < v <= 1),
    "seed": ("a whole number", _is_int),
    "options": ("a JSON object", lambda v: isinstance(v, dict)),
    "source": ("a one-line string", _one_line),
    "source_fingerprint": ("a one-line string", _one_line),
    "selected_ids": ("a list of image ids (strings or whole numbers)", _ids),
    "teacher": ("null or an object whose checkpoint and detector are strings", _teacher),
    "timings": ("a JSON object", lambda v: isinstance(v, dict)),
    "features": ("a JSON object", lambda v: isinstance(v, dict)),
    "feature_s": ("a number or null", lambda v: v is None or (_is_number(v) and math.isfinite(v))),
    "paired_with": ("a string", lambda v: isinstance(v, str)),
}
REQUIRED = ("method",)


def check_manifest(manifest: Any, where: str | Path) -> dict:
    """``manifest`` (parsed JSON) when it has the shape above, else a DatasetError naming ``where`` and the key."""
    if not isinstance(manifest, dict):
        raise DatasetError(where, f"must be a JSON object, not {json_kind(manifest)}")
    for key in REQUIRED:
        if key not in manifest:
            raise DatasetError(where, f"key {key!r} is missing: a condensed set's manifest names its method")
    for key, (what, ok) in FIELDS.items():
        if key in manifest and not ok(manifest[key]):
            raise DatasetError(where, f"key {key!r} must be {what}, not {_shown(manifest[key])}")
    if "kind" in manifest:
        _check_kind(manifest["kind"], where)
    return manifest


def _check_kind(kind: str, where: str | Path) -> None:
    if kind == FULL_KIND:
        raise DatasetError(where, f"key 'kind' is {FULL_KIND!r}, which marks full-data results, not a condensed set")


def parse_manifest(data: bytes, where: str | Path) -> dict:
    """``data`` as a manifest: UTF-8 JSON of the shape above."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise DatasetError(where, f"over {MAX_MANIFEST_BYTES >> 20} MiB: too large for a manifest")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(where, f"not UTF-8 text (byte {exc.start})") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or a number of more digits than Python converts
        raise DatasetError(where, f"malformed JSON: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise DatasetError(where, "malformed JSON: nested too deeply") from None
    return check_manifest(manifest, where)


def read_capped(file: Path, limit: int, what: str) -> bytes:
    """The bytes of ``file``, refused in one line when it is over ``limit`` (it cannot be ``what``) or unreadable."""
    try:
        if file.stat().st_size > limit:
            raise DatasetError(file, f"over {limit >> 20} MiB: not {what}")
        return file.read_bytes()
    except OSError as exc:
        raise DatasetError(file, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def read_manifest(file: Path) -> dict:
    """:func:`parse_manifest` of a manifest on disk."""
    return parse_manifest(read_capped(file, MAX_MANIFEST_BYTES, "a manifest"), file)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
