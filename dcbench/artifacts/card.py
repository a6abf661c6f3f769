"""The dataset card an exported condensed set carries as its README.md: what the set is, how it was made, how to
check and use it, and whose licence applies. Made from the set's manifest and (for a cell's set) its
``condense.json``; nothing in it depends on the time or machine of the export, so the same set exports the same
card.

The card travels with the set and states what it is, so an imported set's card is read back (:func:`parse_card`)
and held against the set (:mod:`dcbench.artifacts.claims`): a card is a claim that must be true.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from dcbench.artifacts.claims import nominal_ratio
from dcbench.data.model import DetectionDataset
from dcbench.errors import DatasetError

CARD = "README.md"
TITLE = "# Condensed set `"
MAX_CARD_BYTES = 16 << 20  # a card is a page of text: anything larger is not one, and is not read into memory
REQUIRED_ROWS = ("method", "images", "ratio")
_ROW_FORMATS = {  # what each parsed row looks like, as the writer below writes it
    "method": (re.compile(r"^`(.*)` \((.*)\)$"), "`METHOD` (KIND)"),
    "images": (re.compile(r"^(\d{1,15}) \((\d{1,15}) boxes\)$"), "N (B boxes)"),
    "ratio": (
        re.compile(r"^([0-9][0-9.eE+-]{0,30}) \((\d{1,15}) of (\d{1,15}) train images\)$"),
        "R (B of N train images)",
    ),
    "set fingerprint": (re.compile(r"^`([0-9a-f]{1,64})`"), "`HEX` (...)"),
}


def teacher_text(manifest: dict, record: dict | None) -> str:
    """The Fetch teacher the set was made with: the cache key, which names the teacher by its train set, detector,
    training settings and seed; or the checkpoint the manifest names; or none."""
    teacher = (record or {}).get("teacher") or {}
    if teacher.get("key"):
        return f"`{teacher['key']}` ({teacher.get('detector', '?')}, seed {teacher.get('seed', '?')})"
    if teacher.get("source") == "given":
        return f"a given checkpoint ({Path(str(teacher.get('path'))).name})"
    named = manifest.get("teacher") or {}
    if named.get("checkpoint"):
        # teachers are cached as <cache>/teachers/<key>/<weights>: the folder is the key
        return f"`{Path(named['checkpoint']).parent.name}` ({named.get('detector', '?')})"
    return "none (the method uses no teacher)"


def ratio_text(manifest: dict) -> str:
    budget, n_train = manifest.get("budget"), manifest.get("n_train")
    if isinstance(budget, int) and isinstance(n_train, int) and n_train > 0 and budget > 0:
        # the ratio a cell would be given to make this budget, so that the card's three numbers agree under the
        # budget rule (its check is claims.ratio_matches)
        return f"{nominal_ratio(budget, n_train):.6g} ({budget} of {n_train} train images)"
    return "unknown (the manifest does not say how large the train set was)"


def _one_line(text: str) -> str:
    # a line break in a value (a category or checkpoint name) would end the table and hide the rows after it
    return " ".join(text.splitlines())


def dataset_card(
    name: str, manifest: dict, dataset: DetectionDataset, *, fingerprint: str, record: dict | None, version: str
) -> str:
    options = json.dumps(manifest.get("options") or {}, sort_keys=True)
    rows = [
        ("method", f"`{manifest.get('method', 'unknown')}` ({manifest.get('kind', 'unknown kind')})"),
        ("options", f"`{options}`"),
        ("images", f"{len(dataset)} ({dataset.n_boxes} boxes)"),
        ("ratio", ratio_text(manifest)),
        ("seed", str(manifest.get("seed", "unknown"))),
        ("source dataset", f"`{manifest.get('source', 'unknown')}`"),
        ("source dataset fingerprint", f"`{manifest.get('source_fingerprint', 'unknown')}`"),
        ("teacher", teacher_text(manifest, record)),
        ("made by", f"`{(record or {}).get('cell', 'unknown')}`"),
        ("set fingerprint", f"`{fingerprint}` (image bytes and boxes; `dcbench eval` records it)"),
        ("categories", ", ".join(dataset.categories)),
        ("exported with", f"dcbench {version}"),
    ]
    lines = [
        f"{TITLE}{_one_line(name)}`",
        "",
        "A condensed object-detection training set made by dcbench, exported with `dcbench export`.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {_one_line(v)} |" for k, v in rows),
        "",
        "## Files",
        "",
        "`images/` the images; `annotations.json` the boxes in COCO format (what dcbench reads); `labels/` the same "
        "boxes as YOLO text files, with `classes.txt` and `data.yaml`; `manifest.json` how the set was made, in "
        "full; `SHA256SUMS` the checksum of every other file (`sha256sum -c SHA256SUMS`).",
        "",
        "## Use",
        "",
        "```bash",
        f"dcbench import {name}.tar.gz sets/{name}      # verifies every checksum before anything is used",
        f"dcbench eval sets/{name} --train SOURCE_SPEC --detector D --protocol P --seed S",
        "```",
        "",
        "## Licence",
        "",
        f"The images and boxes are taken or synthesised from the source dataset (`{manifest.get('source', '?')}`): "
        "its licence and terms of use apply to this set and to anything made from it. dcbench (Apache-2.0) claims "
        "no rights over the data; check the source's licence before passing the set on.",
        "",
    ]
    return "\n".join(lines)


def card_rows(text: str, where: str | Path) -> dict[str, str]:
    """The card's table as {row: value}: the lines after the ``|---|---|`` line, up to the first that is not a
    row."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(TITLE):
        raise DatasetError(where, f"not a dcbench dataset card (its first line is not '{TITLE}NAME`')")
    try:
        start = lines.index("|---|---|") + 1
    except ValueError:
        raise DatasetError(where, "not a dcbench dataset card (no '|---|---|' table)") from None
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if not (line.startswith("| ") and line.endswith(" |") and " | " in line[1:-1]):
            break
        key, value = line[2:-2].split(" | ", 1)
        if key in rows:
            raise DatasetError(where, f"row {key!r} appears twice")
        rows[key] = value
    for key in REQUIRED_ROWS:
        if key not in rows:
            raise DatasetError(where, f"row {key!r} is missing from the card's table")
    return rows


def _parsed(rows: dict[str, str], key: str, where: str | Path) -> tuple[str, ...] | None:
    if key not in rows:
        return None
    pattern, form = _ROW_FORMATS[key]
    match = pattern.match(rows[key])
    if match is None:
        raise DatasetError(where, f"row {key!r} is not '{form}': {rows[key][:80]!r}")
    return match.groups()


def parse_card(data: bytes, where: str | Path) -> dict:
    """A card's claims: ``rows`` (every row as written) and, parsed, ``ratio`` ((ratio, budget, n_train), or None
    where it says ``unknown``) and ``fingerprint`` (the set's, or None). A DatasetError naming ``where`` and the
    row when the text is not a card this module writes."""
    if len(data) > MAX_CARD_BYTES:
        raise DatasetError(where, f"over {MAX_CARD_BYTES >> 20} MiB: not a dcbench dataset card")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(where, f"not UTF-8 text (byte {exc.start}): not a dcbench dataset card") from None
    rows = card_rows(text, where)
    _parsed(rows, "method", where)
    _parsed(rows, "images", where)
    ratio = None
    if not rows["ratio"].startswith("unknown"):
        text_ratio, budget, n_train = _parsed(rows, "ratio", where) or ("", "", "")
        try:
            ratio = (float(text_ratio), int(budget), int(n_train))
        except ValueError:
            raise DatasetError(where, f"row 'ratio' is not 'R (B of N train images)': {rows['ratio'][:80]!r}") from None
    fingerprint = _parsed(rows, "set fingerprint", where)
    return {"rows": rows, "ratio": ratio, "fingerprint": fingerprint[0] if fingerprint else None}


def read_card(file: Path) -> dict:
    """:func:`parse_card` of a card on disk."""
    from dcbench.artifacts.schema import read_capped

    return parse_card(read_capped(file, MAX_CARD_BYTES, "a dcbench dataset card"), file)
