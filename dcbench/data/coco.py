"""COCO ``instances`` JSON.

Categories keep the JSON's order by id (COCO's ids 1..90 with gaps become contiguous indices 0..K-1).
``iscrowd`` annotations are kept, flagged ``ignore``. Image sizes come from the JSON; the image folder is
given explicitly or found beside the JSON (``../images/<split>``, ``../<split>``, ``./images``, ``.``, where
``<split>`` is the JSON's name without ``instances_``, e.g. ``train2017``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from dcbench.data.model import DetectionDataset, LoadReport
from dcbench.data.validate import make_record, require_file, require_images, safe_join
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


def _load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, object_hook=_without_masks)
    except FileNotFoundError:
        raise DatasetError(path, "COCO JSON file not found") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetError(path, "top level is not a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(path, f"missing or invalid {key!r} list (not a COCO instances file?)")
    return data


def _categories(data: dict, json_path: Path) -> tuple[dict[int, int], list[str]]:
    """COCO category id -> dcbench class index (in id order), and the class names."""
    try:
        cats = sorted(data["categories"], key=lambda c: int(c["id"]))
        cat_index = {int(c["id"]): k for k, c in enumerate(cats)}
        categories = [str(c["name"]) for c in cats]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(json_path, f"invalid category entry: {exc}") from None
    if len(set(categories)) != len(categories):
        raise DatasetError(json_path, "duplicate category names")
    return cat_index, categories


def _image_dir(data: dict, json_path: Path, images: str | Path | None) -> Path:
    """``images`` when given, else the first folder beside the JSON that holds its first image."""
    if images is not None:
        image_dir = Path(images)
        if not image_dir.is_dir():
            raise DatasetError(image_dir, "image folder not found")
        return image_dir
    first = data["images"][0].get("file_name", "") if data["images"] else ""
    found = [d for d in _image_dir_candidates(json_path) if first and (d / first).is_file()]
    if data["images"] and not found:
        tried = ", ".join(str(d) for d in _image_dir_candidates(json_path))
        raise DatasetError(json_path, f"cannot find the images (looked for {first!r} in {tried}); give images=DIR")
    return found[0] if found else json_path.parent


def _annotations_by_image(data: dict, json_path: Path) -> dict[int, list[dict]]:
    anns_by_image: dict[int, list[dict]] = defaultdict(list)
    image_ids = set()
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im:
            raise DatasetError(json_path, f"image entry without id: {str(im)[:80]}")
        image_ids.add(im["id"])
    for ann in data["annotations"]:
        try:
            image_id = ann["image_id"]
        except (KeyError, TypeError):
            raise DatasetError(json_path, f"annotation without image_id: {str(ann)[:80]}") from None
        if image_id not in image_ids:
            raise DatasetError(json_path, f"annotation {ann.get('id')} refers to unknown image_id {image_id}")
        anns_by_image[image_id].append(ann)
    return anns_by_image


def read_coco(json_path: str | Path, *, images: str | Path | None = None, name: str | None = None) -> DetectionDataset:
    json_path = Path(json_path)
    data = _load_json(json_path)
    cat_index, categories = _categories(data, json_path)
    image_dir = _image_dir(data, json_path, images)
    anns_by_image = _annotations_by_image(data, json_path)

    report = LoadReport()
    records = []
    for im in data["images"]:
        try:
            file_name, width, height = str(im["file_name"]), int(im["width"]), int(im["height"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(json_path, f"image {im.get('id')} lacks file_name/width/height: {exc}") from None
        file = safe_join(image_dir, file_name, where=json_path)
        require_file(file, where=json_path)
        boxes, labels, ignore = [], [], []
        where = f"{json_path} (image {file_name})"
        for ann in anns_by_image.get(im["id"], []):
            cid = ann.get("category_id")
            if cid not in cat_index:
                raise DatasetError(json_path, f"annotation {ann.get('id')} has unknown category_id {cid!r}")
            bbox = ann.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise DatasetError(json_path, f"annotation {ann.get('id')} has an invalid bbox {bbox!r}")
            x, y, w, h = (float(v) for v in bbox)
            boxes.append([x, y, x + w, y + h])
            labels.append(cat_index[cid])
            ignore.append(bool(ann.get("iscrowd", 0)))
        records.append(
            make_record(str(im["id"]), file, width, height, boxes, labels, ignore, where=where, report=report)
        )
    ds = DetectionDataset(name or json_path.stem, categories, records, {}, report, source=f"coco:{json_path}")
    require_images(ds, json_path)
    return ds
