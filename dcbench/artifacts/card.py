"""The dataset card an exported condensed set carries as its README.md: what the set is, how it was made, how to
check and use it, and whose licence applies. Made from the set's manifest and (for a cell's set) its
``condense.json``; nothing in it depends on the time or machine of the export, so the same set exports the same
card."""

from __future__ import annotations

import json
from pathlib import Path

from dcbench.data.model import DetectionDataset


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
    if isinstance(budget, int) and isinstance(n_train, int) and n_train > 0:
        return f"{budget / n_train:.4g} ({budget} of {n_train} train images)"
    return "unknown (the manifest does not say how large the train set was)"


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
        f"# Condensed set `{name}`",
        "",
        "A condensed object-detection training set made by dcbench, exported with `dcbench export`.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
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
