"""Where a condensed set's files are. A cell keeps its set in ``OUT/condensed/<name>/``: the images, annotations
and ``manifest.json`` one level down in ``condensed/``, and beside it ``condense.json``, the record of how it was
made (teacher, timings, settings). A user may point at either folder; an imported set is the inner one alone."""

from __future__ import annotations

import json
from pathlib import Path

from dcbench.condensed import MANIFEST
from dcbench.errors import DatasetError

CONDENSE_RECORD = "condense.json"
INNER = "condensed"


def condensed_dir(path: str | Path) -> Path | None:
    """The folder holding ``manifest.json`` for ``path`` (the set itself or the cell's ``OUT/condensed/<name>/``),
    or None when ``path`` is not a condensed set."""
    path = Path(path).expanduser()
    if (path / MANIFEST).is_file():
        return path
    if (path / INNER / MANIFEST).is_file():
        return path / INNER
    return None


def require_condensed_dir(path: str | Path, *, hint: str = "") -> Path:
    """:func:`condensed_dir`, or a one-line DatasetError naming ``path`` (and ending with ``hint``)."""
    found = condensed_dir(path)
    if found is None:
        if Path(path).is_dir() and (Path(path) / CONDENSE_RECORD).is_file():
            raise DatasetError(path, f"the condensed set is incomplete (no {INNER}/{MANIFEST}){hint}")
        raise DatasetError(path, f"not a dcbench condensed set (no {MANIFEST} in it or in {INNER}/){hint}")
    return found


def set_name(set_dir: Path) -> str:
    """What the set is called: its folder, or for a cell's inner ``condensed/`` folder the set's own folder
    (``OUT/condensed/<name>/condensed`` is ``<name>``)."""
    set_dir = Path(set_dir).resolve()
    if set_dir.name == INNER and (set_dir.parent / CONDENSE_RECORD).is_file():
        return set_dir.parent.name
    return set_dir.name


def condense_record(set_dir: Path) -> dict | None:
    """The cell's record of how the set was made (``condense.json`` beside it), when there is one."""
    f = Path(set_dir).resolve().parent / CONDENSE_RECORD
    if Path(set_dir).resolve().name != INNER or not f.is_file():
        return None
    try:
        record = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f, f"malformed JSON: {exc}") from None
    return record if isinstance(record, dict) else None
