"""Image files as every viewer sees them: the one place that opens an image, applies its EXIF orientation, and
decodes it to check it.

Phones store a portrait photo as landscape pixels plus an EXIF orientation tag (6: turn 90 degrees clockwise to
display). Annotation tools, browsers and Ultralytics' loaders all show, annotate and train on the *transposed*
image, so a dataset's sizes and boxes refer to it. dcbench does the same, everywhere: readers, the size check,
YOLO label writing, the condensation methods' sources, ``show`` and the R-CNN loaders all get sizes and pixels
from here, so one box lands on the same pixels in every path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dcbench.errors import DatasetError

ORIENTATION_TAG = 0x0112
SWAPS_SIDES = frozenset({5, 6, 7, 8})  # the orientations that turn the image by 90 degrees


def _orientation(im) -> int:
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # a broken EXIF block is ignored by viewers (and by Pillow's exif_transpose): orientation 1
        return 1


def _unreadable(path: Path, exc: BaseException) -> DatasetError:
    if isinstance(exc, FileNotFoundError):
        return DatasetError(path, "image file not found")
    detail = str(exc) or type(exc).__name__
    return DatasetError(path, f"unreadable image: {detail}")


def oriented_size(path: str | Path, *, where: str | Path | None = None) -> tuple[int, int]:
    """(width, height) of the image as displayed, from its header and EXIF tag (no pixels decoded)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = int(im.width), int(im.height)
            return (h, w) if _orientation(im) in SWAPS_SIDES else (w, h)
    except FileNotFoundError:
        raise DatasetError(where or path, f"image file not found: {path}") from None
    except Exception as exc:  # Pillow raises many types for a bad header; Ultralytics patches Image.open too
        raise _unreadable(path, exc) from None


def open_rgb(path: str | Path):
    """The decoded image as displayed (EXIF orientation applied), in RGB: what every pixel reader uses."""
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        with Image.open(path) as src:
            src.load()
            upright = ImageOps.exif_transpose(src)
            return upright.convert("RGB")
    except Exception as exc:
        raise _unreadable(path, exc) from None


@dataclass(frozen=True)
class ImageCheck:
    """What decoding one image found: its displayed size and EXIF orientation, or why it cannot be used."""

    width: int = 0
    height: int = 0
    orientation: int = 1
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def decode_check(path: str | Path) -> ImageCheck:
    """Decode every pixel of the image: a truncated or corrupt file fails here, not minutes into training. Pillow
    refuses a truncated file itself, unless some library has set its global ``LOAD_TRUNCATED_IMAGES``; then a JPEG
    without its end marker near its end still counts as truncated. (Not always: phones append blocks of their own
    after the marker, and such photos are whole.)"""
    from PIL import Image, ImageFile

    path = Path(path)
    try:
        with Image.open(path) as im:
            orientation = _orientation(im)
            im.load()
            w, h = int(im.width), int(im.height)
            jpeg = im.format == "JPEG"
        if jpeg and ImageFile.LOAD_TRUNCATED_IMAGES and not _has_jpeg_end(path):
            return ImageCheck(problem="unreadable image: truncated JPEG (no end-of-image marker)")
    except Exception as exc:
        if isinstance(exc, FileNotFoundError):
            return ImageCheck(problem="image file not found")
        detail = (str(exc) or type(exc).__name__).splitlines()[0]
        return ImageCheck(problem=f"unreadable image: {detail}")
    if orientation in SWAPS_SIDES:
        w, h = h, w
    return ImageCheck(w, h, orientation)


def _has_jpeg_end(path: Path) -> bool:
    # The marker may be followed by padding or a block a phone appends: look at the last 64 KiB.
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        return b"\xff\xd9" in f.read()
