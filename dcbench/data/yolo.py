"""YOLO txt folders: ``images/<split>/*.jpg`` with ``labels/<split>/*.txt`` (or flat ``images/`` + ``labels/``).

Each label line is ``class x_center y_center width height``, normalised to [0, 1]. Class names come from
``classes.txt``, ``obj.names`` or a ``data.yaml``/``dataset.yaml`` ``names`` entry in the folder. An image
without a label file is a background image (no boxes), as in Ultralytics. Every image header is read, since
the boxes are relative to the image size.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from dcbench.data.files import (
    checked_class_names,
    guard_parse,
    is_file,
    is_folder,
    list_folder,
    read_class_names,
    read_text,
    shortened,
)
from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport
from dcbench.data.validate import make_record, read_image_size, require_images
from dcbench.errors import DatasetError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
CLASS_FILES = ("classes.txt", "obj.names", "names.txt")
YAML_FILES = ("data.yaml", "dataset.yaml")


def _yaml_mapping(path: Path) -> dict:
    import yaml

    text = read_text(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise DatasetError(path, f"malformed YAML{at}: {shortened(exc.problem or exc.context or exc)}") from None
    except yaml.YAMLError as exc:
        raise DatasetError(path, f"malformed YAML: {shortened(exc)}") from None
    except RecursionError:
        raise DatasetError(path, "malformed YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value PyYAML cannot build, as the date 2001-13-01
        raise DatasetError(path, f"malformed YAML: {shortened(exc)}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DatasetError(path, f"is a {type(doc).__name__}, not a mapping (expected 'names: [...]')")
    return doc


def _class_name(value: object, path: Path) -> str:
    if type(value) is int:  # names: [0, 1, 2], as Ultralytics reads them
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise DatasetError(
        path,
        f"class name {shortened(repr(value), 60)} is not a string: quote it "
        "(YAML reads unquoted yes/no/on/off as booleans, and an empty entry as null)",
    )


def _yaml_names(path: Path) -> list[str]:
    doc = _yaml_mapping(path)
    names = doc.get("names")
    if names is None:
        raise DatasetError(path, "no 'names' list")
    if isinstance(names, dict):
        keys = list(names)
        # sorted keys would put 10 before 2 if they were text, and a gap would shift every later class by one
        if any(type(k) is not int for k in keys) or set(keys) != set(range(len(keys))):
            shown = shortened(", ".join(repr(k) for k in keys[:10]), 80)
            raise DatasetError(path, f"'names' keys must be the class ids 0..{len(keys) - 1} (got {shown})")
        names = [names[k] for k in range(len(keys))]
    elif not isinstance(names, list):
        raise DatasetError(path, f"'names' is a {type(names).__name__}, expected a list or a mapping")
    if not names:
        raise DatasetError(path, "'names' is empty")
    checked = checked_class_names([_class_name(n, path) for n in names], path)
    nc = doc.get("nc")
    if nc is not None and nc != len(checked):
        raise DatasetError(path, f"nc is {shortened(repr(nc), 40)} but 'names' has {len(checked)} entries")
    return checked


def _class_names(root: Path) -> list[str]:
    for cf in CLASS_FILES:
        if is_file(root / cf):
            return read_class_names(root / cf)
    for yf in YAML_FILES:
        if is_file(root / yf):
            return _yaml_names(root / yf)
    raise DatasetError(root, f"no class names: add one of {', '.join(CLASS_FILES + YAML_FILES)}")


def _parse_labels(label_file: Path, width: int, height: int, n_classes: int):
    boxes, labels = [], []
    for lineno, line in enumerate(read_text(label_file).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DatasetError(label_file, f"line {lineno}: expected 'class xc yc w h', got {len(parts)} fields")
        shown = shortened(line.strip(), 80)
        try:
            cls = int(parts[0])
            xc, yc, w, h = (float(p) for p in parts[1:])
        except ValueError:
            raise DatasetError(label_file, f"line {lineno}: not numbers: {shown!r}") from None
        if not all(math.isfinite(v) for v in (xc, yc, w, h)):  # 'nan', 'inf', '1e999' all parse as floats
            raise DatasetError(label_file, f"line {lineno}: not finite numbers: {shown!r}")
        if not 0 <= cls < n_classes:
            raise DatasetError(label_file, f"line {lineno}: unknown class id {cls} (there are {n_classes} classes)")
        boxes.append([(xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height])
        labels.append(cls)
    return boxes, labels


def _is_dir(entry: Path) -> bool:
    # a link in the image folder that loops or points nowhere is an error, not a skipped split or image
    if os.path.islink(entry) and not os.path.exists(entry):
        is_folder(entry)  # raises, naming what is wrong with the link
    return entry.is_dir()


def _split_dirs(images_root: Path) -> dict[str, Path]:
    entries = list_folder(images_root)
    subdirs = [d for d in entries if _is_dir(d)]
    loose = [f for f in entries if f.suffix.lower() in IMAGE_SUFFIXES and f not in subdirs]
    if subdirs and loose:
        raise DatasetError(images_root, "has both image files and split sub-folders; use one layout")
    return {d.name: d for d in subdirs} if subdirs else {"": images_root}


def _image_files(img_dir: Path) -> list[Path]:
    files = [f for f in list_folder(img_dir) if f.suffix.lower() in IMAGE_SUFFIXES]
    stems: dict[str, str] = {}
    for f in files:
        if f.stem in stems:  # both would read the one label file: its boxes would count twice
            raise DatasetError(img_dir, f"{stems[f.stem]} and {f.name} would share the label file {f.stem}.txt")
        stems[f.stem] = f.name
    return files


def _read_split(split: str, img_dir: Path, label_dir: Path, n_classes: int, report: LoadReport) -> list[ImageRecord]:
    has_labels = is_folder(label_dir)
    records = []
    for file in _image_files(img_dir):
        width, height = read_image_size(file)
        label_file = label_dir / f"{file.stem}.txt"
        boxes, labels = ([], [])
        if has_labels and is_file(label_file):
            boxes, labels = guard_parse(label_file, _parse_labels, label_file, width, height, n_classes)
        rec_id = f"{split}/{file.stem}" if split else file.stem
        ignore = np.zeros(len(labels), bool)
        records.append(make_record(rec_id, file, width, height, boxes, labels, ignore, where=label_file, report=report))
    return records


def _read(root: Path, name: str | None) -> DetectionDataset:
    if not is_folder(root):
        raise DatasetError(root, "YOLO folder not found")
    images_root, labels_root = root / "images", root / "labels"
    if not is_folder(images_root):
        raise DatasetError(root, "no images/ folder")
    is_folder(labels_root)  # a file or a looping link named labels would read as no labels at all
    categories = _class_names(root)
    report = LoadReport()
    records: list[ImageRecord] = []
    splits: dict[str, list[int]] = {}
    for split, img_dir in _split_dirs(images_root).items():
        label_dir = labels_root / split if split else labels_root
        start = len(records)
        records.extend(_read_split(split, img_dir, label_dir, len(categories), report))
        if split:
            splits[split] = list(range(start, len(records)))
    if len(splits) == 1 and not any(s in splits for s in ("train", "val", "test", "trainval")):
        # one folder such as train2017 holds everything: it is the whole set, not a protocol split
        splits = {}
    ds = DetectionDataset(name or root.name, categories, records, splits, report, source=f"yolo:{root}")
    require_images(ds, root)
    return ds


def read_yolo(root: str | Path, *, name: str | None = None) -> DetectionDataset:
    root = Path(root)
    return guard_parse(root, _read, root, name)
