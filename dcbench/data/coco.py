"""COCO ``instances`` JSON.

Categories keep the JSON's order by id (COCO's ids 1..90 with gaps become contiguous indices 0..K-1).
``iscrowd`` annotations are kept, flagged ``ignore``. Image sizes come from the JSON; the image folder is
given explicitly or found beside the JSON (``../images/<split>``, ``../<split>``, ``./images``, ``.``, where
``<split>`` is the JSON's name without ``instances_``, e.g. ``train2017``).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import TypeGuard

from dcbench.data.files import MAX_SIDE, guard_parse, is_file, is_folder, join_file, shortened, utf8_problem
from dcbench.data.model import DetectionDataset, LoadReport
from dcbench.data.validate import make_record, require_images
from dcbench.errors import DatasetError


def _image_dir_candidates(json_path: Path) -> list[Path]:
    split = json_path.stem.removeprefix("instances_")
    here = json_path.parent
    return [here.parent / "images" / split, here.parent / split, here / "images", here.parent / "images", here]


def _without_masks(obj: dict) -> dict:
    # called on every JSON object as it is decoded, innermost first: an annotation's mask is dropped as soon as it is
    # built. Masks are most of COCO's JSON (train2017: 448 MB), and held all at once they took the check of its
    # 118k images from under 1 GB to 2.9 GB; dcbench reads boxes only.
    obj.pop("segmentation", None)
    return obj


def _short(value: object) -> str:
    return shortened(repr(value), 80)


def _is_id(value: object) -> TypeGuard[int | str]:
    # bool is an int to Python, and True == 1 would quietly join an annotation to image 1; a float id 1.0 likewise
    return type(value) is int or (isinstance(value, str) and value != "")


def _side(value: object) -> int | None:
    """An image side as an int; None when it is not a positive whole number (64.5 must not become 64)."""
    if type(value) is float and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if type(value) is int and 0 < value <= MAX_SIDE else None


def _load_json(path: Path) -> dict:
    if not is_file(path):
        raise DatasetError(path, "COCO JSON file not found")
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f, object_hook=_without_masks)
    except json.JSONDecodeError as exc:
        if not exc.doc.strip():
            raise DatasetError(path, "empty file (expected a COCO instances JSON object)") from None
        raise DatasetError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, utf8_problem(path.read_bytes(), exc)) from None
    except RecursionError:
        raise DatasetError(path, "malformed JSON: nested too deeply") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise DatasetError(path, f"malformed JSON: {shortened(exc)}") from None
    if not isinstance(data, dict):
        raise DatasetError(path, "top level is not a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(path, f"missing or invalid {key!r} list (not a COCO instances file?)")
    return data


def _categories(data: dict, json_path: Path) -> tuple[dict[int, int], list[str]]:
    """COCO category id -> dcbench class index (in id order), and the class names."""
    by_id: dict[int, str] = {}
    dup_ids = []
    for k, c in enumerate(data["categories"]):
        if not isinstance(c, dict):
            raise DatasetError(json_path, f"categories[{k}] is not a JSON object: {_short(c)}")
        cid, name = c.get("id"), c.get("name")
        if type(cid) is not int:
            raise DatasetError(json_path, f"categories[{k}] has an invalid id {_short(cid)} (expected an integer)")
        if type(name) is int:
            name = str(name)
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(json_path, f"category {cid} has an invalid name {_short(name)}")
        if cid in by_id:
            dup_ids.append(cid)
        by_id[cid] = name
    if dup_ids:
        raise DatasetError(json_path, f"duplicate category id(s) {', '.join(map(str, sorted(set(dup_ids))))}")
    ids = sorted(by_id)
    categories = [by_id[i] for i in ids]
    dup_names = sorted({n for n in categories if categories.count(n) > 1})
    if dup_names:
        raise DatasetError(json_path, f"duplicate category names: {', '.join(dup_names)}")
    return {cid: k for k, cid in enumerate(ids)}, categories


def _images(data: dict, json_path: Path) -> list[tuple[int | str, str, int, int]]:
    """(id, file_name, width, height) of each image entry, checked."""
    images = []
    names_by_id: dict[str, list[str]] = {}
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict):
            raise DatasetError(json_path, f"images[{k}] is not a JSON object: {_short(im)}")
        image_id, file_name = im.get("id"), im.get("file_name")
        if not _is_id(image_id):
            raise DatasetError(
                json_path, f"images[{k}] has an invalid id {_short(image_id)} (expected an integer or a string)"
            )
        if not isinstance(file_name, str) or not file_name:
            raise DatasetError(json_path, f"image {image_id} has an invalid file_name {_short(file_name)}")
        sides = []
        for key in ("width", "height"):
            side = _side(im.get(key))
            if side is None:
                problem = f"{key} {_short(im[key])} is not a positive integer" if key in im else f"no {key}"
                raise DatasetError(json_path, f"image {image_id} ({file_name}): {problem}")
            sides.append(side)
        # keyed by text: image 7 and image "7" would both become record "7"
        names_by_id.setdefault(str(image_id), []).append(file_name)
        images.append((image_id, file_name, sides[0], sides[1]))
    dups = {i: names for i, names in names_by_id.items() if len(names) > 1}
    if dups:
        first, names = next(iter(dups.items()))
        more = f"; {len(dups) - 1} more id(s) repeat" if len(dups) > 1 else ""
        raise DatasetError(json_path, f"duplicate image id {first} (file_names {', '.join(names)}){more}")
    return images


def _in_range(v: object) -> bool:
    # False for NaN and infinities too: every comparison with NaN is False
    return type(v) in (int, float) and -MAX_SIDE <= v <= MAX_SIDE  # type: ignore[operator]


def _well_formed(ann: object, image_ids: set, cat_index: dict[int, int]) -> bool:
    """The fast check every annotation passes (COCO train2017 has 860k); _explain says what fails."""
    if type(ann) is not dict:
        return False
    image_id, cid, bbox = ann.get("image_id"), ann.get("category_id"), ann.get("bbox")
    crowd, ann_id = ann.get("iscrowd", 0), ann.get("id", 0)
    return (
        type(image_id) in (int, str)
        and image_id in image_ids
        and type(cid) is int
        and cid in cat_index
        and type(bbox) is list
        and len(bbox) == 4
        and _in_range(bbox[0])
        and _in_range(bbox[1])
        and _in_range(bbox[2])
        and _in_range(bbox[3])
        and type(crowd) in (int, bool)
        and crowd in (0, 1)
        and _is_id(ann_id)
    )


def _explain(k: int, ann: object, json_path: Path, image_ids: set, cat_index: dict[int, int]) -> DatasetError:
    """The error for annotation ``k``, which failed _well_formed."""
    if not isinstance(ann, dict):
        return DatasetError(json_path, f"annotations[{k}] is not a JSON object: {_short(ann)}")
    label = f"annotations[{k}]"  # an annotation without an id (hand-written files) is named by its position
    if "id" in ann and not _is_id(ann["id"]):
        return DatasetError(json_path, f"{label} has an invalid id {_short(ann['id'])}")
    label = f"annotation {ann['id']}" if "id" in ann else label
    image_id, cid, bbox, crowd = ann.get("image_id"), ann.get("category_id"), ann.get("bbox"), ann.get("iscrowd", 0)
    if not _is_id(image_id):
        return DatasetError(json_path, f"{label} has an invalid image_id {_short(image_id)}")
    if image_id not in image_ids:
        return DatasetError(json_path, f"{label} refers to unknown image_id {image_id!r}")
    if type(cid) is not int:
        return DatasetError(json_path, f"{label} has an invalid category_id {_short(cid)}")
    if cid not in cat_index:
        return DatasetError(json_path, f"{label} has unknown category_id {cid!r}")
    if not isinstance(bbox, list) or len(bbox) != 4 or any(type(v) not in (int, float) for v in bbox):
        return DatasetError(json_path, f"{label} has an invalid bbox {_short(bbox)} (expected [x, y, width, height])")
    if any(type(v) is float and not math.isfinite(v) for v in bbox):  # an int may be too large for isfinite
        return DatasetError(json_path, f"{label} has a non-finite bbox {_short(bbox)}")
    if not all(_in_range(v) for v in bbox):
        return DatasetError(json_path, f"{label} has a bbox out of any image's range {_short(bbox)}")
    return DatasetError(json_path, f"{label} has an invalid iscrowd {_short(crowd)} (expected 0 or 1)")


def _annotations_by_image(
    data: dict, json_path: Path, image_ids: set, cat_index: dict[int, int]
) -> dict[int | str, list[dict]]:
    anns_by_image: dict[int | str, list[dict]] = defaultdict(list)
    ids: set = set()
    n_ids = 0
    for k, ann in enumerate(data["annotations"]):
        if not _well_formed(ann, image_ids, cat_index):
            raise _explain(k, ann, json_path, image_ids, cat_index)
        if "id" in ann:
            ids.add(ann["id"])
            n_ids += 1
        anns_by_image[ann["image_id"]].append(ann)
    if len(ids) != n_ids:  # rare: counted only then
        counts = Counter(str(a["id"]) for a in data["annotations"] if "id" in a)
        dups = sorted((i for i, n in counts.items() if n > 1), key=lambda i: (len(i), i))  # numbers in order
        raise DatasetError(json_path, f"duplicate annotation id(s) {', '.join(dups[:20])}")
    return anns_by_image


def _image_dir(first: str | None, json_path: Path, images: str | Path | None) -> Path:
    """``images`` when given, else the first folder beside the JSON that holds the first image ``first``."""
    if images is not None:
        image_dir = Path(images)
        if not is_folder(image_dir):
            raise DatasetError(image_dir, "image folder not found")
        return image_dir
    # lexists, not is_file: a first image that is a looping link or a folder is found here and named by join_file
    found = [d for d in _image_dir_candidates(json_path) if first and os.path.lexists(d / first)]
    if first and not found:
        tried = ", ".join(str(d) for d in _image_dir_candidates(json_path))
        raise DatasetError(json_path, f"cannot find the images (looked for {first!r} in {tried}); give images=DIR")
    return found[0] if found else json_path.parent


def _read(json_path: Path, images: str | Path | None, name: str | None) -> DetectionDataset:
    data = _load_json(json_path)
    cat_index, categories = _categories(data, json_path)
    entries = _images(data, json_path)
    anns_by_image = _annotations_by_image(data, json_path, {e[0] for e in entries}, cat_index)
    image_dir = _image_dir(entries[0][1] if entries else None, json_path, images)
    report = LoadReport()
    records = []
    for image_id, file_name, width, height in entries:
        file = join_file(image_dir, file_name, where=json_path)
        boxes, labels, ignore = [], [], []
        for ann in anns_by_image.get(image_id, ()):
            x, y, w, h = ann["bbox"]
            boxes.append([x, y, x + w, y + h])
            labels.append(cat_index[ann["category_id"]])
            ignore.append(bool(ann.get("iscrowd", 0)))
        where = f"{json_path} (image {file_name})"
        records.append(
            make_record(str(image_id), file, width, height, boxes, labels, ignore, where=where, report=report)
        )
    ds = DetectionDataset(name or json_path.stem, categories, records, {}, report, source=f"coco:{json_path}")
    require_images(ds, json_path)
    return ds


def read_coco(json_path: str | Path, *, images: str | Path | None = None, name: str | None = None) -> DetectionDataset:
    json_path = Path(json_path)
    return guard_parse(json_path, _read, json_path, images, name)
