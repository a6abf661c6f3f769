"""Object crops: each labelled box of a training image cut out with a context margin, at the canvas' scale.

Crops are cut from the image as the protocol's letterbox would scale it (canvas side / longest image side), so a
pasted object has the size the detector sees it at in a real training image. The public code cuts at native
resolution onto a 578 x 484 canvas, about a COCO image's size, which is the same thing for COCO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcbench.api import DetectionDataset, ImageRecord, open_rgb
from dcbench_od3.config import OD3Config


@dataclass
class Crop:
    pixels: np.ndarray  # (h, w, 3) uint8
    box: np.ndarray  # (4,) float32: the object's box inside the crop, xyxy
    label: int


def frame_scale(im: ImageRecord, size: int) -> float:
    return size / max(im.width, im.height)


def largest_box_area(ds: DetectionDataset, size: int) -> float:
    """The largest labelled box area in the canvas frame: the dynamic margin's ``max_area`` (the code uses COCO's
    largest box area, a dataset statistic, so this is the same statistic of the dataset at hand)."""
    largest = 1.0
    for im in ds.images:
        boxes = im.boxes[~im.ignore]
        if len(boxes):
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * frame_scale(im, size) ** 2
            largest = max(largest, float(areas.max()))
    return largest


def margin_for(area: float, cfg: OD3Config, max_area: float) -> int:
    """Context margin in canvas px: none, fixed, or more for smaller objects (truncated to whole px, as the code)."""
    if cfg.margin == "none":
        return 0
    if cfg.margin == "fixed":
        return cfg.margin_px
    return int(cfg.margin_max_px * min(1.0, max(0.0, 1.0 - area / max_area)))


def cut(src, box: np.ndarray, label: int, s: float, cfg: OD3Config, cap: float, max_area: float) -> Crop:
    """One crop: ``box`` is in the canvas frame (source px * ``s``); one resample from the source pixels."""
    from PIL import Image

    width, height = src.width * s, src.height * s
    m = margin_for(float((box[2] - box[0]) * (box[3] - box[1])), cfg, max_area)
    x0, y0 = max(0.0, box[0] - m), max(0.0, box[1] - m)
    x1, y1 = min(width, box[2] + m), min(height, box[3] + m)
    rw, rh = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
    # only shrink, keeping the aspect ratio: the cap bounds the longer side
    f = cfg.scale * min(1.0, cap / (rw * cfg.scale), cap / (rh * cfg.scale))
    tw, th = max(1, round(rw * f)), max(1, round(rh * f))
    pixels = np.asarray(src.resize((tw, th), Image.Resampling.BILINEAR, box=(x0 / s, y0 / s, x1 / s, y1 / s)))
    fx, fy = tw / rw, th / rh
    inner = np.array([(box[0] - x0) * fx, (box[1] - y0) * fy, (box[2] - x0) * fx, (box[3] - y0) * fy], np.float32)
    return Crop(pixels, np.clip(inner, 0, [tw, th, tw, th]).astype(np.float32), int(label))


def image_crops(im: ImageRecord, size: int, cfg: OD3Config, max_area: float) -> list[Crop]:
    """The crops of every labelled (not ignored) box of ``im``, in the image's box order."""
    keep = ~im.ignore
    if not keep.any():
        return []
    s = frame_scale(im, size)
    cap = max(1.0, cfg.max_crop * size)
    src = open_rgb(im.file)  # EXIF orientation applied: the boxes refer to the displayed image
    return [cut(src, box * s, label, s, cfg, cap, max_area) for box, label in zip(im.boxes[keep], im.labels[keep])]
