"""Checks shared by every reader: file names, image files and boxes (:mod:`dcbench.data.files` reads the files).

Policy (the same for every format):

* a file name that is absolute or climbs out of the image folder (``..``) is rejected;
* a missing image is an error; an image whose header cannot be read is an error;
* a box with zero width or height is dropped and counted (real datasets have them: BCCD has two);
* a box with negative width or height, or non-finite coordinates, is an error;
* a box that pokes out of the image by at most ``max(2 px, 2 % of the side)`` is clipped and counted;
  further out it is an error: such a box means the annotation belongs to another image or another scale.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from dcbench.data.model import LoadReport
from dcbench.errors import DatasetError

CLIP_TOLERANCE_PX = 2.0
CLIP_TOLERANCE_FRACTION = 0.02


def safe_join(root: Path, name: str, *, where: str | Path) -> Path:
    """``root / name``, refusing names that would escape ``root``."""
    if not name or "\x00" in name:
        raise DatasetError(where, f"empty or invalid image file name {name!r}")
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in posix.parts or ".." in windows.parts:
        raise DatasetError(where, f"image file name {name!r} escapes the image folder (path traversal rejected)")
    path = root / name
    # A plain file name (no folder in it) can leave ``root`` only by being a symlink itself: one lstat decides, where
    # resolving both paths costs an lstat per path component and was a third of reading COCO's 118k images.
    if len(posix.parts) == 1 and len(windows.parts) == 1 and not os.path.islink(path):
        return path
    try:
        resolved_root = root.resolve()
        if not path.resolve().is_relative_to(resolved_root):
            raise DatasetError(where, f"image file name {name!r} resolves outside {root} (symlink escape rejected)")
    except OSError as exc:
        raise DatasetError(where, f"cannot resolve image path {name!r}: {exc}") from exc
    return path


def read_image_size(path: Path, *, where: str | Path | None = None) -> tuple[int, int]:
    """(width, height) of the image as displayed (EXIF orientation applied), from its header, without decoding the
    pixels: :func:`dcbench.data.images.oriented_size`."""
    from dcbench.data.images import oriented_size

    return oriented_size(path, where=where)


def sanitize_boxes(
    boxes: np.ndarray, width: int, height: int, *, where: str | Path, report: LoadReport
) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(n, 4)`` xyxy pixel boxes against the image size. Returns (clipped boxes, mask of boxes kept)."""
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    keep = np.ones(len(boxes), dtype=bool)
    if len(boxes) == 0:
        return boxes, keep
    if not np.isfinite(boxes).all():
        i = int(np.where(~np.isfinite(boxes).all(axis=1))[0][0])
        raise DatasetError(where, f"box {i} has non-finite coordinates {boxes[i].tolist()}")
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    negative = (w < 0) | (h < 0)
    if negative.any():
        i = int(np.where(negative)[0][0])
        raise DatasetError(where, f"box {i} {boxes[i].tolist()} has negative width or height")
    zero = (w == 0) | (h == 0)
    if zero.any():
        for i in np.where(zero)[0]:
            report.note(f"{where}: dropped zero-size box {boxes[i].tolist()}")
        report.dropped_zero_size += int(zero.sum())
        keep &= ~zero
    mx = max(CLIP_TOLERANCE_PX, CLIP_TOLERANCE_FRACTION * width)
    my = max(CLIP_TOLERANCE_PX, CLIP_TOLERANCE_FRACTION * height)
    outside = (boxes[:, 0] < -mx) | (boxes[:, 1] < -my) | (boxes[:, 2] > width + mx) | (boxes[:, 3] > height + my)
    outside &= keep
    if outside.any():
        i = int(np.where(outside)[0][0])
        raise DatasetError(
            where,
            f"box {i} {boxes[i].tolist()} lies outside the {width}x{height} image (beyond the clipping tolerance)",
        )
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    # Sub-pixel overshoot is rounding noise of normalised formats: clipped silently, counted only beyond it.
    visible = (np.abs(clipped - boxes) > 0.5).any(axis=1) & keep
    if visible.any():
        for i in np.where(visible)[0]:
            report.note(f"{where}: clipped box {boxes[i].tolist()} to the {width}x{height} image")
        report.clipped += int(visible.sum())
    if (clipped != boxes).any():
        boxes[:] = clipped
        degenerate = ((boxes[:, 2] - boxes[:, 0]) <= 0) | ((boxes[:, 3] - boxes[:, 1]) <= 0)
        degenerate &= keep
        report.dropped_zero_size += int(degenerate.sum())
        keep &= ~degenerate
    return boxes, keep


def make_record(
    image_id: str,
    file: Path,
    width: int,
    height: int,
    boxes: list | np.ndarray,
    labels: list | np.ndarray,
    ignore: list | np.ndarray,
    *,
    where: str | Path,
    report: LoadReport,
):
    """An ImageRecord with its boxes validated (see the module docstring for the policy)."""
    from dcbench.data.model import ImageRecord

    if width <= 0 or height <= 0:
        raise DatasetError(where, f"invalid image size {width}x{height}")
    clean, keep = sanitize_boxes(
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4), width, height, where=where, report=report
    )
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    ignore = np.asarray(ignore, dtype=bool).reshape(-1)
    return ImageRecord(image_id, file, int(width), int(height), clean[keep], labels[keep], ignore[keep])


def require_images(ds, where: str | Path) -> None:
    if len(ds) == 0:
        raise DatasetError(where, "the dataset has no images")
