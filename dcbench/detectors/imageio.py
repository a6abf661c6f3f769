"""Image loading and letterboxing shared by backends and by DCOD (which forges on letterboxed canvases)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_VALUE = 114  # grey padding, as YOLO letterboxing uses


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed on a square canvas: ``canvas = image * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float

    def boxes_to_canvas(self, boxes: np.ndarray) -> np.ndarray:
        out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * self.scale
        out[:, [0, 2]] += self.pad_x
        out[:, [1, 3]] += self.pad_y
        return out


def letterbox(path, size: int) -> tuple[np.ndarray, Letterbox]:
    """(size, size, 3) uint8 RGB canvas holding the image resized to fit, centred, and how it was placed."""
    from PIL import Image

    from dcbench.errors import DatasetError

    try:
        with Image.open(path) as src:
            im = src.convert("RGB")
            w, h = im.size
            scale = size / max(w, h)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            resized = im.resize((nw, nh), Image.Resampling.BILINEAR)
    except FileNotFoundError:
        raise DatasetError(path, "image file not found") from None
    except Exception as exc:
        raise DatasetError(path, f"unreadable image: {type(exc).__name__}: {exc}") from exc
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = np.asarray(resized)
    return canvas, Letterbox(scale, float(px), float(py))
