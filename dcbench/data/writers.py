"""Writing a DetectionDataset to disk: COCO JSON, and a YOLO folder that Ultralytics trains from.

Both writers write to a temporary name and rename at the end, so an interrupted write never leaves a file that
looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from dcbench.data.model import DetectionDataset
from dcbench.io import atomic_write_text


def coco_dict(ds: DetectionDataset, file_names: list[str] | None = None) -> dict:
    """COCO instances dict. Image ids are 1..N in dataset order, category ids 1..K in category order."""
    images, annotations = [], []
    ann_id = 1
    for k, im in enumerate(ds.images):
        images.append(
            {
                "id": k + 1,
                "file_name": file_names[k] if file_names else im.file.name,
                "width": im.width,
                "height": im.height,
            }
        )
        for box, label, ignore in zip(im.boxes.tolist(), im.labels.tolist(), im.ignore.tolist()):
            x1, y1, x2, y2 = box
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": k + 1,
                    "category_id": label + 1,
                    "bbox": [round(x1, 3), round(y1, 3), round(w, 3), round(h, 3)],
                    "area": round(w * h, 3),
                    "iscrowd": int(ignore),
                }
            )
            ann_id += 1
    categories = [{"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(ds.categories)]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco_json(ds: DetectionDataset, path: str | Path, file_names: list[str] | None = None) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(coco_dict(ds, file_names), separators=(",", ":")))
    return path


def place_file(src: Path, dst: Path) -> None:
    """Hard-link when the filesystem allows it (the bytes are the same either way), else copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def yolo_file_names(ds: DetectionDataset) -> list[str]:
    """Unique, order-preserving file names: ids from several sources may share a stem."""
    return [f"{k:06d}_{im.file.stem}{im.file.suffix.lower()}" for k, im in enumerate(ds.images)]


def yolo_label_lines(ds: DetectionDataset, k: int) -> list[str]:
    im = ds.images[k]
    lines = []
    for (x1, y1, x2, y2), label, ignore in zip(im.boxes.tolist(), im.labels.tolist(), im.ignore.tolist()):
        if ignore:  # crowd / difficult boxes are not training targets
            continue
        xc, yc = (x1 + x2) / 2 / im.width, (y1 + y2) / 2 / im.height
        w, h = (x2 - x1) / im.width, (y2 - y1) / im.height
        lines.append(f"{label} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f}")
    return lines


def write_yolo(
    ds: DetectionDataset,
    out: str | Path,
    split: str = "train",
    *,
    extra_splits: dict[str, DetectionDataset] | None = None,
) -> Path:
    """Write ``out/images/<split>``, ``out/labels/<split>``, ``classes.txt`` and ``data.yaml``; returns data.yaml."""
    out = Path(out)
    parts = {split: ds, **(extra_splits or {})}
    for name, part in parts.items():
        names = yolo_file_names(part)
        for k, im in enumerate(part.images):
            place_file(im.file, out / "images" / name / names[k])
            label = out / "labels" / name / (Path(names[k]).stem + ".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            lines = yolo_label_lines(part, k)
            label.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    atomic_write_text(out / "classes.txt", "\n".join(ds.categories) + "\n")
    # No 'path:' key: Ultralytics then resolves folders against the YAML's own folder, so the set can be moved.
    yaml_lines = [f"{key}: images/{name}" for key, name in zip(("train", "val"), list(parts)[:2])]
    if len(parts) == 1:
        yaml_lines.append(f"val: images/{split}")
    yaml_lines.append("names:")
    yaml_lines += [f"  {i}: {json.dumps(n)}" for i, n in enumerate(ds.categories)]
    data_yaml = out / "data.yaml"
    atomic_write_text(data_yaml, "\n".join(yaml_lines) + "\n")
    return data_yaml
