"""YOLO txt folders: ``images/<split>/*.jpg`` with ``labels/<split>/*.txt`` (or flat ``images/`` + ``labels/``).

Each label line is ``class x_center y_center width height``, normalised to [0, 1]. Class names come from
``classes.txt``, ``obj.names`` or a ``data.yaml``/``dataset.yaml`` ``names`` entry in the folder. An image
without a label file is a background image (no boxes), as in Ultralytics. Every image header is read, since
the boxes are relative to the image size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport
from dcbench.data.validate import make_record, read_class_names, read_image_size, require_images
from dcbench.errors import DatasetError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
CLASS_FILES = ("classes.txt", "obj.names", "names.txt")
YAML_FILES = ("data.yaml", "dataset.yaml")


def _class_names(root: Path) -> list[str]:
    for cf in CLASS_FILES:
        if (root / cf).is_file():
            return read_class_names(root / cf)
    for yf in YAML_FILES:
        if (root / yf).is_file():
            import yaml

            try:
                names = (yaml.safe_load((root / yf).read_text()) or {}).get("names")
            except yaml.YAMLError as exc:
                raise DatasetError(root / yf, f"malformed YAML: {exc}") from None
            if isinstance(names, dict):
                names = [names[k] for k in sorted(names)]
            if isinstance(names, list) and names:
                return [str(n) for n in names]
            raise DatasetError(root / yf, "no 'names' list")
    raise DatasetError(root, f"no class names: add one of {', '.join(CLASS_FILES + YAML_FILES)}")


def _parse_labels(label_file: Path, width: int, height: int, n_classes: int):
    boxes, labels = [], []
    try:
        lines = label_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(label_file, f"cannot read: {exc}") from None
    for lineno, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DatasetError(label_file, f"line {lineno}: expected 'class xc yc w h', got {len(parts)} fields")
        try:
            cls = int(parts[0])
            xc, yc, w, h = (float(p) for p in parts[1:])
        except ValueError:
            raise DatasetError(label_file, f"line {lineno}: not numbers: {line.strip()!r}") from None
        if not 0 <= cls < n_classes:
            raise DatasetError(label_file, f"line {lineno}: unknown class id {cls} (there are {n_classes} classes)")
        boxes.append([(xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height])
        labels.append(cls)
    return boxes, labels


def _split_dirs(images_root: Path) -> dict[str, Path]:
    subdirs = sorted(d for d in images_root.iterdir() if d.is_dir())
    loose = [f for f in images_root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
    if subdirs and loose:
        raise DatasetError(images_root, "has both image files and split sub-folders; use one layout")
    return {d.name: d for d in subdirs} if subdirs else {"": images_root}


def read_yolo(root: str | Path, *, name: str | None = None) -> DetectionDataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "YOLO folder not found")
    images_root, labels_root = root / "images", root / "labels"
    if not images_root.is_dir():
        raise DatasetError(root, "no images/ folder")
    categories = _class_names(root)
    report = LoadReport()
    records: list[ImageRecord] = []
    splits: dict[str, list[int]] = {}
    for split, img_dir in _split_dirs(images_root).items():
        label_dir = labels_root / split if split else labels_root
        start = len(records)
        for file in sorted(f for f in img_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            width, height = read_image_size(file)
            label_file = label_dir / f"{file.stem}.txt"
            boxes, labels = (
                _parse_labels(label_file, width, height, len(categories)) if label_file.is_file() else ([], [])
            )
            rec_id = f"{split}/{file.stem}" if split else file.stem
            records.append(
                make_record(
                    rec_id,
                    file,
                    width,
                    height,
                    boxes,
                    labels,
                    np.zeros(len(labels), bool),
                    where=label_file,
                    report=report,
                )
            )
        if split:
            splits[split] = list(range(start, len(records)))
    if len(splits) == 1 and not any(s in splits for s in ("train", "val", "test", "trainval")):
        # one folder such as train2017 holds everything: it is the whole set, not a protocol split
        splits = {}
    ds = DetectionDataset(name or root.name, categories, records, splits, report, source=f"yolo:{root}")
    require_images(ds, root)
    return ds
