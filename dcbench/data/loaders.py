"""Dataset loaders as registered: each takes the spec's argument (what follows ``NAME:``) and returns a dataset."""

from __future__ import annotations

import os
from pathlib import Path

from dcbench.data.coco import read_coco
from dcbench.data.files import expand_user, is_file, is_folder
from dcbench.data.model import DetectionDataset, concat
from dcbench.data.spec import split_options
from dcbench.data.voc import VOC_CLASSES, read_voc
from dcbench.data.yolo import read_yolo
from dcbench.errors import DatasetError

DATA_ROOT_ENV = "DCBENCH_DATA_ROOT"


def _path(arg: str | None, fmt: str, example: str) -> tuple[Path, dict[str, str]]:
    path, options = split_options(arg)
    if not path:
        raise DatasetError(None, f"the {fmt} format needs a path: {fmt}:{example}")
    return expand_user(path), options


def _no_options(options: dict[str, str], fmt: str) -> None:
    if options:
        raise DatasetError(None, f"{fmt}: unknown option(s) {', '.join(sorted(options))}")


def load_voc(arg: str | None) -> DetectionDataset:
    path, options = _path(arg, "voc", "DIR (with Annotations/ and JPEGImages/)")
    _no_options(options, "voc")
    return read_voc(path)


def load_coco(arg: str | None) -> DetectionDataset:
    path, options = _path(arg, "coco", "FILE.json[?images=DIR]")
    images = options.pop("images", None)
    _no_options(options, "coco")
    return read_coco(path, images=images)


def load_yolo(arg: str | None) -> DetectionDataset:
    path, options = _path(arg, "yolo", "DIR (with images/ and labels/)")
    _no_options(options, "yolo")
    return read_yolo(path)


def load_shapes(arg: str | None) -> DetectionDataset:
    from dcbench.data.shapes import ShapesConfig, shapes_dataset

    path, options = split_options(arg)
    if path:
        raise DatasetError(None, f"shapes takes options, not a path: shapes:?n_train=200&seed=1 (got {path!r})")
    return shapes_dataset(ShapesConfig.from_options(options))


def _root(arg: str | None, name: str) -> Path:
    path, options = split_options(arg)
    _no_options(options, name)
    root = path or os.environ.get(DATA_ROOT_ENV)
    if not root:
        raise DatasetError(None, f"{name} needs the folder you downloaded it to: {name}:ROOT (or set {DATA_ROOT_ENV})")
    return expand_user(root)


def load_voc0712(arg: str | None) -> DetectionDataset:
    """The DCOD paper's VOC protocol: train on VOC2007 trainval + VOC2012 trainval (16,551 images), test on
    VOC2007 test (4,952). Expects ``ROOT/VOCdevkit/VOC2007`` and ``ROOT/VOCdevkit/VOC2012`` (or ROOT being
    ``VOCdevkit`` itself), each with Annotations/, JPEGImages/ and ImageSets/Main/."""
    root = _root(arg, "voc0712")
    devkit = root / "VOCdevkit" if is_folder(root / "VOCdevkit") else root
    expected = {
        "VOC2007": ("trainval", "test"),
        "VOC2012": ("trainval",),
    }
    for year, splits in expected.items():
        for split in splits:
            f = devkit / year / "ImageSets" / "Main" / f"{split}.txt"
            if not is_file(f):
                raise DatasetError(
                    root,
                    f"incomplete VOC07+12: {f} is missing. Expected {devkit}/VOC2007 (trainval + test) and "
                    f"{devkit}/VOC2012 (trainval), each with Annotations/, JPEGImages/, ImageSets/Main/",
                )
    v07 = read_voc(devkit / "VOC2007", classes=VOC_CLASSES)
    v12 = read_voc(devkit / "VOC2012", classes=VOC_CLASSES)
    for part, tag in ((v07, "VOC2007"), (v12, "VOC2012")):
        for im in part.images:
            im.id = f"{tag}/{im.id}"
    train = concat("voc0712", {"a": v07.split("trainval"), "b": v12.split("trainval")})
    ds = concat("voc0712", {"trainval": train, "test": v07.split("test")}, source=f"voc0712:{root}")
    return ds


def load_coco2017(arg: str | None) -> DetectionDataset:
    """The DCOD paper's COCO protocol: train on train2017 (118,287 images), test on val2017 (5,000). Expects
    ``ROOT/annotations/instances_{train,val}2017.json`` and the images in ``ROOT/{train,val}2017/`` or
    ``ROOT/images/{train,val}2017/``."""
    root = _root(arg, "coco2017")
    parts = {}
    for split, year_split in (("train", "train2017"), ("test", "val2017")):
        ann = root / "annotations" / f"instances_{year_split}.json"
        if not is_file(ann):
            raise DatasetError(
                root,
                f"incomplete COCO 2017: {ann} is missing. Expected ROOT/annotations/instances_train2017.json, "
                "instances_val2017.json and the images in ROOT/train2017/, ROOT/val2017/",
            )
        parts[split] = read_coco(ann)
    return concat("coco2017", parts, source=f"coco2017:{root}")
