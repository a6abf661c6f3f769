"""Screening: the observer's predictions on a canvas decide which pasted objects stay.

A pasted box that no kept prediction overlaps at IoU > ``screen_iou`` (of the same class when class-aware) is
erased, oldest first, unless erasing it would leave the canvas' occupied fraction at or below ``fill_floor``: then
erasing stops for this pass. Unlike the code, a canvas with a single prediction or a single candidate is screened
like any other (the code erases every candidate then).
"""

from __future__ import annotations

import numpy as np

from dcbench.api import Detections
from dcbench_od3.config import OD3Config
from dcbench_od3.placement import Canvas


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def seen(boxes: np.ndarray, labels: np.ndarray, dets: Detections, cfg: OD3Config) -> np.ndarray:
    """Per pasted box: whether a prediction with score >= screen_score matches it."""
    keep = dets.scores >= cfg.screen_score
    pred_boxes, pred_labels = dets.boxes[keep], dets.labels[keep]
    if not len(boxes) or not len(pred_boxes):
        return np.zeros(len(boxes), bool)
    match = iou_matrix(boxes, pred_boxes) > cfg.screen_iou
    if cfg.screen_classes == "aware":
        match &= np.asarray(labels)[:, None] == pred_labels[None, :]
    return np.asarray(match.any(axis=1), dtype=bool)


def erase(canvas: Canvas, j: int) -> None:
    """Pixels item ``j`` still shows go back to the background; its centre becomes a free position."""
    item = canvas.items[j]
    y0, y1, x0, x1 = item.region
    mine = canvas.owner[y0:y1, x0:x1] == j
    canvas.pixels[y0:y1, x0:x1][mine] = canvas.background[y0:y1, x0:x1][mine]
    canvas.owner[y0:y1, x0:x1][mine] = -1
    canvas.memory.append(item.centre)
    item.alive = False


def screen(canvas: Canvas, dets: Detections, cfg: OD3Config) -> int:
    """One screening pass on ``canvas`` with the observer's detections; returns how many objects were erased."""
    alive = canvas.alive()
    canvas.counts["screen_passes"] += 1
    if not alive:
        return 0
    boxes = np.stack([canvas.items[j].box for j in alive])
    labels = np.array([canvas.items[j].label for j in alive])
    found = seen(boxes, labels, dets, cfg)
    total = canvas.size * canvas.size
    occupied = int((canvas.owner >= 0).sum())
    erased = 0
    for j, ok in zip(alive, found):
        if ok:
            continue
        y0, y1, x0, x1 = canvas.items[j].region
        own = int((canvas.owner[y0:y1, x0:x1] == j).sum())
        if (occupied - own) / total <= cfg.fill_floor:
            canvas.counts["floor_stops"] += 1
            break
        erase(canvas, j)
        occupied -= own
        erased += 1
    canvas.counts["erased"] += erased
    return erased


def final_items(canvas: Canvas, cfg: OD3Config) -> list[int]:
    """The objects that become the canvas' boxes: alive and still showing at least ``min_visible`` of their box
    (a box a later paste hid is dropped and counted as hidden)."""
    keep = []
    for j in canvas.alive():
        if canvas.visible_fraction(j) >= cfg.min_visible:
            keep.append(j)
        else:
            canvas.counts["hidden"] += 1
    return keep
