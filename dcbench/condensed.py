"""A condensed set on disk: images, boxes in COCO JSON and YOLO txt, and a manifest.

Layout of a condensed set folder::

    images/000000_<stem>.<ext>      the selected or synthesised images
    labels/000000_<stem>.txt        YOLO boxes (for Ultralytics)
    annotations.json                COCO instances (the source of truth when the set is read back)
    classes.txt
    data.yaml                       Ultralytics dataset file (relative paths: the folder can be moved)
    manifest.json                   method, options, ratio, budget, seed, source fingerprint, timings

The folder is written under a temporary name and renamed when complete; ``manifest.json`` exists only in a
complete set. An exported and imported set also holds its dataset card, ``README.md``.

A set is checked whenever it is read: the manifest's shape (:mod:`dcbench.artifacts.schema`), the card's when
there is one, and their claims (image count, ratio, method) against the files present
(:mod:`dcbench.artifacts.claims`), so a set that describes itself falsely is refused before it is trained on,
exported or recorded in a result; a method that writes a false manifest fails where it writes it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dcbench.artifacts.card import CARD, read_card
from dcbench.artifacts.claims import check_card_claims, check_files, check_manifest_claims
from dcbench.artifacts.schema import read_manifest
from dcbench.data.coco import read_coco
from dcbench.data.model import DetectionDataset
from dcbench.data.writers import write_coco_json, yolo_file_names, yolo_label_lines
from dcbench.errors import DatasetError
from dcbench.io import atomic_write_text, partial_name

MANIFEST = "manifest.json"


@dataclass
class CondensedSet:
    path: Path
    dataset: DetectionDataset
    manifest: dict
    card: dict | None = None  # the dataset card's claims (:func:`dcbench.artifacts.card.parse_card`), when it has one

    def __len__(self) -> int:
        return len(self.dataset)


def write_condensed(ds: DetectionDataset, out: Path, manifest: dict, *, image_writer=None) -> CondensedSet:
    """Write ``ds`` as a condensed set folder at ``out`` (replacing an incomplete one).

    ``image_writer(k, path)`` writes image ``k`` itself (synthesised images); by default the source file is
    copied, so the bytes are those of the original image.
    """
    out = Path(out)
    # the process id keeps two runs writing the same set from sharing (and deleting) one temporary folder
    tmp = partial_name(out)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_set_files(ds, tmp, manifest, image_writer)
    except BaseException:  # Ctrl-C or a full disk: no half-written set left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return load_condensed(out)


def _write_set_files(ds: DetectionDataset, tmp: Path, manifest: dict, image_writer) -> None:
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    names = yolo_file_names(ds)
    for k, im in enumerate(ds.images):
        target = tmp / "images" / names[k]
        if image_writer is None:
            # a copy, never a hard link: a condensed set must not change when a cache it came from is rebuilt
            # or damaged under it
            shutil.copyfile(im.file, target)
        else:
            image_writer(k, target)
        lines = yolo_label_lines(ds, k)
        (tmp / "labels" / (Path(names[k]).stem + ".txt")).write_text("\n".join(lines) + ("\n" if lines else ""))
    write_coco_json(ds, tmp / "annotations.json", names)
    (tmp / "classes.txt").write_text("\n".join(ds.categories) + "\n")
    yaml_lines = ["train: images", "val: images", "names:"] + [
        f"  {i}: {json.dumps(n)}" for i, n in enumerate(ds.categories)
    ]
    (tmp / "data.yaml").write_text("\n".join(yaml_lines) + "\n")
    atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def load_condensed(path: str | Path) -> CondensedSet:
    path = Path(path)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        if (path / "condensed" / MANIFEST).is_file():  # the set's folder in OUT/condensed/ holds it one level down
            raise DatasetError(path, f"the condensed set is one level down: {path / 'condensed'}")
        raise DatasetError(path, "not a complete condensed set (no manifest.json)")
    manifest = read_manifest(manifest_file)
    card = read_card(path / CARD) if (path / CARD).is_file() else None
    ds = read_coco(path / "annotations.json", images=path / "images", name=f"condensed:{path.name}")
    ds.source = f"condensed:{path}"
    check_files(path, ds)
    check_manifest_claims(manifest_file, manifest, len(ds))
    if card is not None:
        check_card_claims(path / CARD, card, manifest, ds)
    return CondensedSet(path, ds, manifest, card)
