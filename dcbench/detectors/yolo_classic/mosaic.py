"""The archive recipe's mosaic (``yolov3-classic.md`` section 4), written from its description: four training
images, each resized so that its longer side is S, meet at a random centre (U(0.5 S, 1.5 S) on each axis) of a
2S x 2S canvas padded with 114; the recipe's affine augmentation is all zero, so what the detector sees is the
canvas's centre S x S. A box is kept while it is wider and taller than 4 px, keeps more than a fifth of its area and
is less than 10 times longer than wide. The randomness (the three other images and the centre) is drawn in the main
process by :class:`MosaicBatches`, so the batches are the same for a seed whatever the number of loader workers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from dcbench.detectors.rcnn_loader import EpochBatches
from dcbench.io import PAD_VALUE, letterbox

MIN_SIDE_PX = 4.0
MIN_AREA_KEPT = 0.2
MAX_ASPECT = 10.0


class MosaicBatches(EpochBatches):
    """:class:`EpochBatches` whose keys also name each image's mosaic: ``(index, flip, others, centre)``, three
    more image indices and the centre as fractions of S, from a generator of their own (the order and flips are
    EpochBatches' own)."""

    def __iter__(self) -> Iterator[list]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 4)
        for keys in super().__iter__():
            batch = []
            for index, flip in keys:
                others = tuple(torch.randint(self.n, (3,), generator=gen).tolist())
                centre = tuple((0.5 + torch.rand(2, generator=gen)).tolist())
                batch.append((index, flip, others, centre))
            yield batch


def resized(record, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image with its longer side ``size`` (no padding), its kept boxes in those pixels, and their labels."""
    canvas, placed = letterbox(record.file, size)
    w, h = max(1, round(record.width * placed.scale)), max(1, round(record.height * placed.scale))
    x, y = int(placed.pad_x), int(placed.pad_y)
    keep = ~record.ignore
    boxes = record.boxes[keep].astype(np.float32).reshape(-1, 4) * placed.scale
    return canvas[y : y + h, x : x + w], boxes, record.labels[keep].astype(np.int64)


def _paste(big: np.ndarray, image: np.ndarray, ox: int, oy: int) -> None:
    """``image`` with its top-left corner at (ox, oy) of ``big``, cut to ``big``."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(ox, 0), max(oy, 0), min(ox + w, big.shape[1]), min(oy + h, big.shape[0])
    if x2 > x1 and y2 > y1:
        big[y1:y2, x1:x2] = image[y1 - oy : y2 - oy, x1 - ox : x2 - ox]


def kept(boxes: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Which clipped ``boxes`` are still objects, against their unclipped ``before``."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    w0, h0 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    aspect = np.maximum(w / np.maximum(h, 1e-6), h / np.maximum(w, 1e-6))
    area_kept = w * h / np.maximum(w0 * h0, 1e-6)
    return (w > MIN_SIDE_PX) & (h > MIN_SIDE_PX) & (area_kept > MIN_AREA_KEPT) & (aspect < MAX_ASPECT)


def mosaic(records: Sequence, centre: tuple[float, float], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The S x S mosaic of four ``records`` (the first at the top left of the centre, then top right, bottom left,
    bottom right): the image (S, S, 3) uint8, its boxes (k, 4) x1 y1 x2 y2 in its pixels, and their labels."""
    big = np.full((2 * size, 2 * size, 3), PAD_VALUE, dtype=np.uint8)
    xc, yc = int(centre[0] * size), int(centre[1] * size)
    all_boxes, all_labels = [], []
    for quadrant, record in enumerate(records):
        image, boxes, labels = resized(record, size)
        h, w = image.shape[:2]
        ox, oy = xc - w * (1 - quadrant % 2), yc - h * (1 - quadrant // 2)
        _paste(big, image, ox, oy)
        all_boxes.append(boxes + np.array([ox, oy, ox, oy], dtype=np.float32))
        all_labels.append(labels)
    offset = size // 2  # the centre crop: the zero affine's only effect
    before = np.concatenate(all_boxes) - offset
    boxes = before.clip(0, size)
    keep = kept(boxes, before)
    crop = big[offset : offset + size, offset : offset + size]
    return np.ascontiguousarray(crop), boxes[keep], np.concatenate(all_labels)[keep]


def mosaic_sample(record, flip: bool, others, centre, *, records: Sequence, imgsz: int):
    """One training sample, the mosaic of ``record`` and ``others``: (3, S, S) uint8 and targets (k, 5), class then
    centre x, centre y, w, h in 0-1, flipped after the mosaic. Module-level so that DataLoader workers can pickle it
    (with functools.partial)."""
    image, boxes, labels = mosaic([record, *(records[i] for i in others)], centre, imgsz)
    boxes = boxes / imgsz
    if flip:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = 1.0 - boxes[:, [2, 0]]
    xywh = np.concatenate(((boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]), 1)
    targets = np.concatenate((labels[:, None].astype(np.float32), xywh), 1).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), torch.from_numpy(targets)
