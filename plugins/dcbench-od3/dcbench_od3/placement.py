"""A canvas being filled, and overlap-checked placement of crops on it.

The canvas keeps an owner map (which pasted object each pixel shows, -1 for background) rather than a bare
occupancy mask: erasing an object then restores only the pixels it still shows, never a later object pasted over
part of it, and the share of a box still showing (its visibility) is one comparison away. Occupancy is
``owner >= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dcbench_od3.config import OD3Config
from dcbench_od3.crops import Crop

COUNTS = ("objects", "pasted", "dropped", "erased", "hidden", "screen_passes", "floor_stops")


@dataclass
class Item:
    """A pasted object: its box (clipped to the canvas) and class, and the pixel region its crop was pasted to."""

    box: np.ndarray
    label: int
    region: tuple[int, int, int, int]  # y0, y1, x0, x1
    alive: bool = True

    @property
    def centre(self) -> tuple[float, float]:
        return (float(self.box[1] + self.box[3]) / 2, float(self.box[0] + self.box[2]) / 2)


@dataclass
class Canvas:
    size: int
    background: np.ndarray  # (size, size, 3) uint8: what erased pixels go back to
    pixels: np.ndarray = field(init=False)
    owner: np.ndarray = field(init=False)
    items: list[Item] = field(default_factory=list)
    memory: list[tuple[float, float]] = field(default_factory=list)  # centres (y, x) of erased objects
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def __post_init__(self) -> None:
        self.pixels = self.background.copy()
        self.owner = np.full((self.size, self.size), -1, np.int32)

    def occupied(self) -> float:
        return float((self.owner >= 0).mean())

    def alive(self) -> list[int]:
        return [j for j, it in enumerate(self.items) if it.alive]

    def visible_fraction(self, j: int) -> float:
        """Share of item ``j``'s box whose pixels still show item ``j`` (later pastes may cover it)."""
        bx1, by1, bx2, by2 = self.items[j].box
        window = self.owner[int(by1) : int(np.ceil(by2)), int(bx1) : int(np.ceil(bx2))]
        return float((window == j).mean()) if window.size else 0.0


def plain_canvas(size: int, value: int = 255) -> Canvas:
    return Canvas(size, np.full((size, size, 3), value, np.uint8))


@dataclass(frozen=True)
class Placement:
    top: int
    left: int
    region: tuple[int, int, int, int]  # the clipped pixel region, y0, y1, x0, x1
    box: np.ndarray  # the object's box on the canvas, clipped
    occupied: float  # fraction of the region already occupied when the try was accepted


def draw_centre(canvas: Canvas, rng: np.random.Generator) -> tuple[float, float]:
    """A uniform centre in the canvas (so at most half a crop hangs over an edge) or, once objects were erased,
    a uniform draw mixed with a remembered free centre by a random weight. Returns (y, x)."""
    uniform = rng.random(2) * canvas.size
    if not canvas.memory:
        return float(uniform[0]), float(uniform[1])
    k = int(rng.integers(len(canvas.memory)))
    p = float(rng.random())
    freed = np.asarray(canvas.memory[k])
    y, x = p * uniform + (1 - p) * freed
    return float(y), float(x)


def forget_filled(canvas: Canvas) -> None:
    """A remembered centre that is occupied again is no longer free (the code prunes its memory the same way)."""
    canvas.memory = [
        (y, x) for y, x in canvas.memory if canvas.owner[min(int(y), canvas.size - 1), min(int(x), canvas.size - 1)] < 0
    ]


def locate(canvas: Canvas, crop: Crop, y: float, x: float) -> Placement | None:
    """The crop centred at (y, x): its clipped region and box, or None when the visible box is under a pixel."""
    h, w = crop.pixels.shape[:2]
    top, left = int(round(y - h / 2)), int(round(x - w / 2))
    s = canvas.size
    y0, y1, x0, x1 = max(0, top), min(s, top + h), max(0, left), min(s, left + w)
    box = np.clip(crop.box + np.array([left, top, left, top], np.float32), 0, s)
    if y1 <= y0 or x1 <= x0 or box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    occupied = float((canvas.owner[y0:y1, x0:x1] >= 0).mean())
    return Placement(top, left, (y0, y1, x0, x1), box, occupied)


def try_place(canvas: Canvas, crop: Crop, rng: np.random.Generator, cfg: OD3Config) -> Placement | None:
    """Up to ``cfg.tries`` tries; the first whose region is at most ``cfg.overlap`` occupied is accepted."""
    forget_filled(canvas)
    for _ in range(cfg.tries):
        y, x = draw_centre(canvas, rng)
        placement = locate(canvas, crop, y, x)
        if placement is not None and placement.occupied <= cfg.overlap:
            return placement
    return None


def paste(canvas: Canvas, crop: Crop, placement: Placement) -> int:
    """Paste over whatever is there; the new object owns its whole region (margin included)."""
    y0, y1, x0, x1 = placement.region
    ty, tx = y0 - placement.top, x0 - placement.left
    canvas.pixels[y0:y1, x0:x1] = crop.pixels[ty : ty + (y1 - y0), tx : tx + (x1 - x0)]
    j = len(canvas.items)
    canvas.owner[y0:y1, x0:x1] = j
    canvas.items.append(Item(placement.box, crop.label, placement.region))
    return j


def place_crop(canvas: Canvas, crop: Crop, rng: np.random.Generator, cfg: OD3Config) -> Placement | None:
    """Place one crop or drop it, counting either way."""
    canvas.counts["objects"] += 1
    placement = try_place(canvas, crop, rng, cfg)
    if placement is None:
        canvas.counts["dropped"] += 1
        return None
    paste(canvas, crop, placement)
    canvas.counts["pasted"] += 1
    return placement
