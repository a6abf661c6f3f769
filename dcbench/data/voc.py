"""PASCAL VOC XML: one XML per image, ``ImageSets/Main/*.txt`` split files when present.

Layouts found automatically under the folder given: ``Annotations/`` + ``JPEGImages/`` (the official one) or
``gts/pascalvoc_format/`` + ``images/`` (as some tools export it). The class list comes from ``voc.names``,
``classes.txt`` or ``labels.txt`` beside them when present -- then any other class name is an error -- and
otherwise from the names found, sorted. VOC coordinates are 1-based; they are converted to 0-based pixel edges.
``difficult`` objects are kept, flagged ``ignore`` (not trained on, ignored by the evaluator, as in VOC's own
protocol).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from dcbench.data.files import (
    MAX_SIDE,
    guard_parse,
    is_file,
    is_folder,
    join_file,
    read_class_names,
    read_text,
    shortened,
)
from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport
from dcbench.data.validate import make_record, read_image_size, require_images, safe_join
from dcbench.errors import DatasetError

ANNOTATION_DIRS = ("Annotations", "gts/pascalvoc_format", "annotations")
IMAGE_DIRS = ("JPEGImages", "images")
CLASS_FILES = ("voc.names", "classes.txt", "labels.txt")
SPLIT_NAMES = ("train", "val", "trainval", "test")
DIFFICULT = {"0": False, "false": False, "": False, "1": True, "true": True}

VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip


def _find(root: Path, candidates: tuple[str, ...], what: str) -> Path:
    for c in candidates:
        if is_folder(root / c):
            return root / c
    raise DatasetError(root, f"no {what} folder (looked for {', '.join(candidates)})")


def _text(node: ET.Element, tag: str, where: Path) -> str:
    found = node.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise DatasetError(where, f"missing <{tag}>")
    return found.text.strip()


def _number(node: ET.Element, tag: str, where: Path) -> float:
    value = _text(node, tag, where)
    try:
        number = float(value)
    except ValueError:
        raise DatasetError(where, f"<{tag}> is not a number: {value!r}") from None
    if not math.isfinite(number):  # 'nan', 'inf' and '1e999' all parse as floats
        raise DatasetError(where, f"<{tag}> is not a finite number: {value!r}")
    return number


def _side(size: ET.Element, tag: str, where: Path) -> int:
    number = _number(size, tag, where)
    if not number.is_integer() or abs(number) > MAX_SIDE:
        raise DatasetError(where, f"<{tag}> is not a whole number: {_text(size, tag, where)!r}")
    return int(number)


def _load_xml(xml_path: Path) -> ET.Element:
    if not is_file(xml_path):
        raise DatasetError(xml_path, "annotation file not found")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(xml_path, f"malformed XML: {exc}") from None
    except LookupError as exc:  # an encoding the declaration names and Python does not know
        raise DatasetError(xml_path, f"malformed XML: {shortened(exc)}") from None
    except OSError as exc:
        raise DatasetError(xml_path, f"cannot read: {exc.strerror or exc}") from None
    if root.tag != "annotation":
        raise DatasetError(xml_path, f"root element is <{shortened(root.tag, 60)}>, expected <annotation>")
    return root


def _image_size(root: ET.Element, file: Path, xml_path: Path) -> tuple[int, int]:
    width = height = 0
    size = root.find("size")
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        width, height = _side(size, "width", xml_path), _side(size, "height", xml_path)
    if width <= 0 or height <= 0:  # some exporters write 0: the image header is the truth then
        width, height = read_image_size(file, where=xml_path)
    return width, height


def _objects(root: ET.Element, xml_path: Path, report: LoadReport) -> tuple[list, list[str], list[bool]]:
    boxes, names, ignore = [], [], []
    for obj in root.iter("object"):
        name = _text(obj, "name", xml_path)
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DatasetError(xml_path, f"object {name!r} has no <bndbox>")
        x1, y1, x2, y2 = (_number(bnd, t, xml_path) for t in ("xmin", "ymin", "xmax", "ymax"))
        # A degenerate annotation (xmax == xmin) is zero-size whatever the 1-based convention makes of it.
        if x2 == x1 or y2 == y1:
            report.note(f"{xml_path}: dropped zero-size box {[x1, y1, x2, y2]}")
            report.dropped_zero_size += 1
            continue
        difficult = obj.find("difficult")
        flag = "" if difficult is None else (difficult.text or "").strip().lower()
        if flag not in DIFFICULT:  # 'True' read as not difficult would train on a box VOC ignores
            raise DatasetError(xml_path, f"object {name!r}: <difficult> is not 0 or 1: {shortened(flag, 40)!r}")
        boxes.append([x1 - 1, y1 - 1, x2, y2])
        names.append(name)
        ignore.append(DIFFICULT[flag])
    return boxes, names, ignore


def _parse_xml(
    xml_path: Path, image_dir: Path, classes: list[str] | None, discovered: dict[str, int], report: LoadReport
):
    root = _load_xml(xml_path)
    filename_node = root.find("filename")
    filename = (
        filename_node.text.strip() if filename_node is not None and filename_node.text else xml_path.stem + ".jpg"
    )
    file = join_file(image_dir, filename, where=xml_path)
    width, height = _image_size(root, file, xml_path)
    boxes, names, ignore = _objects(root, xml_path, report)
    labels = []
    for name in names:
        if classes is not None:
            if name not in classes:
                raise DatasetError(xml_path, f"unknown class {name!r} (known: {', '.join(classes)})")
            labels.append(classes.index(name))
        else:
            labels.append(discovered.setdefault(name, len(discovered)))
    return make_record(xml_path.stem, file, width, height, boxes, labels, ignore, where=xml_path, report=report)


def _class_file(root: Path) -> list[str] | None:
    for cf in CLASS_FILES:
        if is_file(root / cf):
            return read_class_names(root / cf)
    return None


def _split_ids(splits_dir: Path) -> dict[str, list[str]]:
    split_ids: dict[str, list[str]] = {}
    if not is_folder(splits_dir):
        return split_ids
    for split in SPLIT_NAMES:
        f = splits_dir / f"{split}.txt"
        if is_file(f):
            ids = [line.split()[0] for line in read_text(f).splitlines() if line.strip()]
            if not ids:  # an empty test split would score nothing, an empty train split train on nothing
                raise DatasetError(f, "lists no image ids")
            if len(set(ids)) != len(ids):  # the image would count twice in the split: trained on or scored twice
                twice = next(i for i, n in Counter(ids).items() if n > 1)
                raise DatasetError(f, f"lists {twice!r} more than once")
            split_ids[split] = ids
    return split_ids


def _xml_files(ann_dir: Path, splits_dir: Path, ids: list[str]) -> list[Path]:
    if not ids:
        try:
            return sorted(ann_dir.glob("*.xml"))
        except OSError as exc:
            raise DatasetError(ann_dir, f"cannot list: {exc.strerror or exc}") from None
    xml_files = []
    for i in ids:
        try:
            xml = safe_join(ann_dir, f"{i}.xml", where=splits_dir)
        except RuntimeError:  # Python 3.11's resolve on a looping link
            raise DatasetError(ann_dir / f"{i}.xml", "is a symbolic link that loops") from None
        if not is_file(xml):
            raise DatasetError(splits_dir, f"split files list {i!r} but {xml} does not exist")
        xml_files.append(xml)
    return xml_files


def _read(root: Path, classes: list[str] | None, name: str | None) -> DetectionDataset:
    if not is_folder(root):
        raise DatasetError(root, "VOC folder not found")
    ann_dir = _find(root, ANNOTATION_DIRS, "annotation")
    image_dir = _find(root, IMAGE_DIRS, "image")
    if classes is None:
        classes = _class_file(root)
    split_ids = _split_ids(root / "ImageSets" / "Main")
    ids = sorted({i for ids in split_ids.values() for i in ids})
    xml_files = _xml_files(ann_dir, root / "ImageSets" / "Main", ids)
    report = LoadReport()
    discovered: dict[str, int] = {}
    records: list[ImageRecord] = [
        guard_parse(x, _parse_xml, x, image_dir, classes, discovered, report) for x in xml_files
    ]
    if classes is None:
        # Sorted names make the class order independent of file order; remap the provisional indices.
        classes = sorted(discovered)
        remap = {old: classes.index(n) for n, old in discovered.items()}
        for r in records:
            r.labels = r.labels.copy()
            for k in range(len(r.labels)):
                r.labels[k] = remap[int(r.labels[k])]
    # by split id, not record id: an id 'sub/a' is the record 'a' (its XML's stem)
    position = {i: k for k, i in enumerate(ids)}
    splits = {s: [position[i] for i in split] for s, split in split_ids.items()}
    ds = DetectionDataset(name or root.name, classes, records, splits, report, source=f"voc:{root}")
    require_images(ds, root)
    return ds


def read_voc(root: str | Path, *, classes: list[str] | None = None, name: str | None = None) -> DetectionDataset:
    root = Path(root)
    return guard_parse(root, _read, root, classes, name)
