"""PASCAL VOC XML: one XML per image, ``ImageSets/Main/*.txt`` split files when present.

Layouts found automatically under the folder given: ``Annotations/`` + ``JPEGImages/`` (the official one) or
``gts/pascalvoc_format/`` + ``images/`` (as some tools export it). The class list comes from ``voc.names``,
``classes.txt`` or ``labels.txt`` beside them when present -- then any other class name is an error -- and
otherwise from the names found, sorted. VOC coordinates are 1-based; they are converted to 0-based pixel edges.
``difficult`` objects are kept, flagged ``ignore`` (not trained on, ignored by the evaluator, as in VOC's own
protocol).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport
from dcbench.data.validate import (
    make_record,
    read_class_names,
    read_image_size,
    require_file,
    require_images,
    safe_join,
)
from dcbench.errors import DatasetError

ANNOTATION_DIRS = ("Annotations", "gts/pascalvoc_format", "annotations")
IMAGE_DIRS = ("JPEGImages", "images")
CLASS_FILES = ("voc.names", "classes.txt", "labels.txt")
SPLIT_NAMES = ("train", "val", "trainval", "test")

VOC_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip


def _find(root: Path, candidates: tuple[str, ...], what: str) -> Path:
    for c in candidates:
        if (root / c).is_dir():
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
        return float(value)
    except ValueError:
        raise DatasetError(where, f"<{tag}> is not a number: {value!r}") from None


def _parse_xml(
    xml_path: Path, image_dir: Path, classes: list[str] | None, discovered: dict[str, int], report: LoadReport
):
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(xml_path, f"malformed XML: {exc}") from None
    except OSError as exc:
        raise DatasetError(xml_path, f"cannot read: {exc}") from None
    if root.tag != "annotation":
        raise DatasetError(xml_path, f"root element is <{root.tag}>, expected <annotation>")
    filename_node = root.find("filename")
    filename = (
        filename_node.text.strip() if filename_node is not None and filename_node.text else xml_path.stem + ".jpg"
    )
    file = safe_join(image_dir, filename, where=xml_path)
    require_file(file, where=xml_path)
    width = height = 0
    size = root.find("size")
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        width, height = int(_number(size, "width", xml_path)), int(_number(size, "height", xml_path))
    if width <= 0 or height <= 0:  # some exporters write 0: the image header is the truth then
        width, height = read_image_size(file, where=xml_path)
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
        boxes.append([x1 - 1, y1 - 1, x2, y2])
        names.append(name)
        ignore.append(difficult is not None and (difficult.text or "0").strip() == "1")
    labels = []
    for name in names:
        if classes is not None:
            if name not in classes:
                raise DatasetError(xml_path, f"unknown class {name!r} (known: {', '.join(classes)})")
            labels.append(classes.index(name))
        else:
            labels.append(discovered.setdefault(name, len(discovered)))
    return make_record(xml_path.stem, file, width, height, boxes, labels, ignore, where=xml_path, report=report)


def read_voc(root: str | Path, *, classes: list[str] | None = None, name: str | None = None) -> DetectionDataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "VOC folder not found")
    ann_dir = _find(root, ANNOTATION_DIRS, "annotation")
    image_dir = _find(root, IMAGE_DIRS, "image")
    if classes is None:
        for cf in CLASS_FILES:
            if (root / cf).is_file():
                classes = read_class_names(root / cf)
                break
    splits_dir = root / "ImageSets" / "Main"
    split_ids: dict[str, list[str]] = {}
    if splits_dir.is_dir():
        for split in SPLIT_NAMES:
            f = splits_dir / f"{split}.txt"
            if f.is_file():
                split_ids[split] = [line.split()[0] for line in f.read_text().splitlines() if line.strip()]
    if split_ids:
        ids = sorted({i for ids in split_ids.values() for i in ids})
        xml_files = []
        for i in ids:
            xml = safe_join(ann_dir, f"{i}.xml", where=splits_dir)
            if not xml.is_file():
                raise DatasetError(splits_dir, f"split files list {i!r} but {xml} does not exist")
            xml_files.append(xml)
    else:
        xml_files = sorted(ann_dir.glob("*.xml"))
    report = LoadReport()
    discovered: dict[str, int] = {}
    records: list[ImageRecord] = [_parse_xml(x, image_dir, classes, discovered, report) for x in xml_files]
    if classes is None:
        # Sorted names make the class order independent of file order; remap the provisional indices.
        classes = sorted(discovered)
        remap = {old: classes.index(n) for n, old in discovered.items()}
        for r in records:
            r.labels = r.labels.copy()
            for k in range(len(r.labels)):
                r.labels[k] = remap[int(r.labels[k])]
    position = {r.id: k for k, r in enumerate(records)}
    splits = {s: [position[i] for i in ids] for s, ids in split_ids.items()}
    ds = DetectionDataset(name or root.name, classes, records, splits, report, source=f"voc:{root}")
    require_images(ds, root)
    return ds
