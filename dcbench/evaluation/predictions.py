"""A cell's kept predictions read back: a COCO results file (as ``harness.cell.score_students`` writes it) turned
into :class:`Detections` on the test split it was made on, to be scored again without predicting again."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dcbench.data.model import DetectionDataset
from dcbench.errors import DatasetError
from dcbench.evaluation.detections import Detections


def _entry(item: object, k: int, n_images: int, n_classes: int) -> tuple[int, list[float], float, int]:
    """(image index, xyxy box, score, class index) of results entry ``k``; a ValueError says what is wrong."""
    if not isinstance(item, dict):
        raise ValueError(f"entry {k} is not an object")
    image_id, category_id, bbox, score = (item.get(key) for key in ("image_id", "category_id", "bbox", "score"))
    if not isinstance(image_id, int) or isinstance(image_id, bool) or not 1 <= image_id <= n_images:
        raise ValueError(f"entry {k}: image_id {image_id!r} is not one of the test split's 1..{n_images}")
    if not isinstance(category_id, int) or isinstance(category_id, bool) or not 1 <= category_id <= n_classes:
        raise ValueError(f"entry {k}: category_id {category_id!r} is not one of 1..{n_classes}")
    numbers = bbox if isinstance(bbox, list) and len(bbox) == 4 else None
    if numbers is None or not all(isinstance(v, int | float) and math.isfinite(v) for v in [*numbers, score]):
        raise ValueError(f"entry {k}: bbox {bbox!r} and score {score!r} must be 4 finite numbers and one")
    x, y, w, h = (float(v) for v in numbers)
    return image_id - 1, [x, y, x + w, y + h], float(score), category_id - 1  # type: ignore[arg-type]


def read_predictions(path: str | Path, test: DetectionDataset) -> list[Detections]:
    """One :class:`Detections` per image of ``test``, in its order, from the COCO results file at ``path``."""
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DatasetError(path, f"not a COCO results file: {exc}") from None
    if not isinstance(items, list):
        raise DatasetError(path, "not a COCO results file: the top level is not a list")
    per_image: list[list] = [[] for _ in test.images]
    for k, item in enumerate(items):
        try:
            index, box, score, label = _entry(item, k, len(test), test.num_classes)
        except ValueError as exc:
            raise DatasetError(path, str(exc)) from None
        per_image[index].append((box, score, label))
    return [
        Detections(
            np.array([b for b, _, _ in found], np.float32).reshape(-1, 4),
            np.array([s for _, s, _ in found], np.float32),
            np.array([c for _, _, c in found], np.int64),
        )
        for found in per_image
    ]
