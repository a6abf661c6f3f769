"""A layout many labelling tools export and dcbench's core does not read: one CSV file, one row per box.

    image,split,x1,y1,x2,y2,label
    img/0001.jpg,train,12,30,80,96,cat
    img/0002.jpg,test,,,,,            <- an image without boxes: box fields empty

Image paths are relative to the CSV file. ``split`` is optional (a column may be missing or empty). Boxes are
absolute pixels. Validation is dcbench's own (zero-size boxes dropped, marginal ones clipped, the rest errors).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from dcbench.api import (
    DatasetError,
    DetectionDataset,
    LoadReport,
    make_record,
    read_image_size,
    require_images,
    safe_join,
    split_options,
)

REQUIRED = ("image", "x1", "y1", "x2", "y2", "label")


def read_csv_dataset(path: str | Path) -> DetectionDataset:
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else []
    except FileNotFoundError:
        raise DatasetError(path, "CSV file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(path, f"cannot read CSV: {exc}") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DatasetError(path, f"missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED)}[, split])")
    per_image: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for lineno, row in enumerate(rows, start=2):
        per_image[row["image"]].append((lineno, row))
    categories = sorted({row["label"] for row in rows if row["label"]})
    report = LoadReport()
    records, splits = [], defaultdict(list)
    for name, entries in per_image.items():
        file = safe_join(path.parent, name, where=path)
        width, height = read_image_size(file, where=path)
        boxes, labels = [], []
        split = ""
        for lineno, row in entries:
            split = split or (row.get("split") or "").strip()
            if not row["label"]:
                continue
            try:
                boxes.append([float(row[k]) for k in ("x1", "y1", "x2", "y2")])
            except ValueError:
                raise DatasetError(path, f"line {lineno}: box coordinates are not numbers") from None
            labels.append(categories.index(row["label"]))
        where = f"{path} ({name})"
        records.append(
            make_record(
                Path(name).stem, file, width, height, boxes, labels, [False] * len(labels), where=where, report=report
            )
        )
        if split:
            splits[split].append(len(records) - 1)
    ds = DetectionDataset(path.stem, categories, records, dict(splits), report, source=f"csv:{path}")
    require_images(ds, path)
    return ds


def load_csv(arg: str | None) -> DetectionDataset:
    file, options = split_options(arg)
    if not file:
        raise DatasetError(None, "the csv dataset needs a file: csv:FILE.csv")
    if options:
        raise DatasetError(None, f"csv: unknown option(s) {', '.join(sorted(options))}")
    return read_csv_dataset(Path(file).expanduser())
