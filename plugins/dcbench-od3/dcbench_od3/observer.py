"""The observer: a function from canvases to detections. The real one is the Fetch teacher through its backend's
public ``predict``; tests pass a fake one.

``predict`` takes a DetectionDataset of image files, so each call writes the canvases as PNG files to a
temporary folder under the method's workdir. Callers batch many canvases into one call: a call has a fixed cost
(loading the checkpoint, building the predictor) that dwarfs one small canvas.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dcbench.api import CondenseContext, ConfigError, DetectionDataset, Detections, ImageRecord

Observe = Callable[[list[np.ndarray]], list[Detections]]


def canvas_dataset(canvases: list[np.ndarray], folder: Path, categories: list[str]) -> DetectionDataset:
    """The canvases as a box-free DetectionDataset of PNG files in ``folder``."""
    from PIL import Image

    records = []
    for k, pixels in enumerate(canvases):
        file = folder / f"canvas_{k:06d}.png"
        # compress_level 1: these files live for one predict call
        Image.fromarray(pixels).save(file, format="PNG", compress_level=1)
        h, w = pixels.shape[:2]
        records.append(ImageRecord(f"canvas-{k:06d}", file, w, h, np.zeros((0, 4)), np.zeros(0), np.zeros(0, bool)))
    return DetectionDataset("od3-observe", list(categories), records, source="od3")


def teacher_observer(context: CondenseContext, categories: list[str]) -> Observe:
    """The Fetch teacher as the observer (``context.teacher``); every call is one ``predict`` call."""
    teacher = context.teacher
    if teacher is None:
        raise ConfigError("od3 needs a teacher (the observer) for screening or observer labels")
    context.workdir.mkdir(parents=True, exist_ok=True)

    def observe(canvases: list[np.ndarray]) -> list[Detections]:
        if not canvases:
            return []
        folder = Path(tempfile.mkdtemp(prefix=".od3-observe-", dir=context.workdir))
        try:
            ds = canvas_dataset(canvases, folder, categories)
            dets = teacher.backend.predict(teacher.checkpoint, ds, protocol=context.protocol, device=context.device)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if len(dets) != len(canvases):
            raise ConfigError(f"the observer returned {len(dets)} detections for {len(canvases)} canvases")
        return dets

    return observe


def observer_boxes(dets: Detections, size: int, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """The observer's boxes at or above ``min_score``, clipped to the canvas; boxes under a pixel are left out."""
    keep = dets.scores >= min_score
    boxes = np.clip(dets.boxes[keep], 0, size)
    labels = dets.labels[keep]
    valid = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return boxes[valid].astype(np.float32), labels[valid].astype(np.int64)
