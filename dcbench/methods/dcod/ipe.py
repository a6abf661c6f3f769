"""Incremental PatchExpand: the canvas becomes a k x k grid of patches, each with its own real image and
boxes, and k grows during the optimisation (1 -> 2 -> 3 at thirds of the run by default).

How a stage change works here (the paper gives no more detail): the synthetic image has an ordered list of
*sources* (real training images, the first one being its initialisation). At stage k it shows sources
0..k^2-1, source j in patch (row j // k, column j % k), each patch about S/k wide. On entering stage k, sources already
on the canvas keep their forged pixels; new sources enter as their real image. The stored image is the whole canvas
with the union of the patch boxes.

What a patch shows of its source is a :class:`View`: a window of the source's letterboxed canvas, drawn into the
patch. ``fit`` decides the window:

* ``rescale`` (the paper: "the rescaled image"): the whole source, shrunk k-fold, so objects shrink k-fold too;
* ``crop``: a window of the patch's own size, so objects keep their scale; the window is placed to show the most
  whole boxes and cut the fewest in the stored image, and a source's window at stage k lies inside its window at
  the stage before, so its forged pixels carry over unresampled. Boxes the window cuts are kept (clipped) while at least
  ``min_visible`` of their area shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dcbench.errors import ConfigError

FITS = ("rescale", "crop")


def parse_schedule(text: str) -> list[tuple[int, float]]:
    """``"1:0,2:0.3333,3:0.6667"`` -> [(1, 0.0), (2, 0.3333), (3, 0.6667)]; k increasing, starts increasing."""
    try:
        stages = [(int(k), float(s)) for k, s in (part.split(":") for part in text.split(",") if part.strip())]
    except ValueError:
        raise ConfigError(f"ipe_schedule {text!r} is not 'k:start,k:start,...' (e.g. 1:0,2:0.3333,3:0.6667)") from None
    if not stages or stages[0][1] != 0.0:
        raise ConfigError(f"ipe_schedule {text!r} must start at fraction 0")
    ks = [k for k, _ in stages]
    starts = [s for _, s in stages]
    if ks != sorted(set(ks)) or starts != sorted(set(starts)) or ks[0] < 1 or not all(0 <= s < 1 for s in starts):
        raise ConfigError(f"ipe_schedule {text!r}: k and start fractions must increase, fractions in [0, 1)")
    return stages


def stage_starts(schedule: list[tuple[int, float]], iterations: int) -> list[tuple[int, int]]:
    """[(k, first iteration of that stage)] for a run of ``iterations`` steps."""
    return [(k, int(round(s * iterations))) for k, s in schedule]


def k_at(starts: list[tuple[int, int]], iteration: int) -> int:
    k = starts[0][0]
    for kk, it in starts:
        if iteration >= it:
            k = kk
    return k


def patch_rect(j: int, k: int, size: int) -> tuple[int, int, int, int]:
    """(x0, y0, width, height) of patch ``j`` in a k x k grid over a ``size`` canvas. Edges at floor(size * c / k),
    so the patches tile the canvas exactly (sides differ by at most one pixel)."""
    row, col = divmod(j, k)
    x0, y0 = size * col // k, size * row // k
    return x0, y0, size * (col + 1) // k - x0, size * (row + 1) // k - y0


Rect = tuple[int, int, int, int]  # x, y, width, height in pixels


@dataclass(frozen=True)
class View:
    """Source pixels ``window`` (of its own canvas) drawn into ``patch`` (of the synthetic canvas)."""

    window: Rect
    patch: Rect


def _inside(boxes: torch.Tensor, x: float, y: float, w: float, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per box: wholly inside the rectangle; partly inside (cut by its edge)."""
    x1, y1, x2, y2 = boxes.unbind(1)
    whole = (x1 >= x) & (y1 >= y) & (x2 <= x + w) & (y2 <= y + h)
    overlap = (x1 < x + w) & (x2 > x) & (y1 < y + h) & (y2 > y)
    return whole, overlap & ~whole


def crop_window(boxes: torch.Tensor, size: int, w: int, h: int, contain: Rect | None = None) -> Rect:
    """A ``w`` x ``h`` window of a ``size`` canvas, holding the rectangle ``contain`` if given, that shows the most
    whole boxes and cuts the fewest.

    Candidates are the window centred on the canvas and the windows centred on each box (shifted to fit); the
    score is (whole boxes - cut boxes, area of the whole boxes), the first best candidate wins, so the choice is a
    deterministic function of the boxes."""
    x_lo, y_lo, x_hi, y_hi = 0, 0, size - w, size - h
    if contain is not None:
        cx, cy, cw, ch = contain
        x_lo, y_lo, x_hi, y_hi = max(x_lo, cx + cw - w), max(y_lo, cy + ch - h), min(x_hi, cx), min(y_hi, cy)
    if x_lo > x_hi or y_lo > y_hi:
        raise ValueError(f"no {w}x{h} window of a {size} canvas holds {contain}")

    def place(cx: float, cy: float) -> tuple[int, int]:
        return min(max(int(round(cx - w / 2)), x_lo), x_hi), min(max(int(round(cy - h / 2)), y_lo), y_hi)

    boxes = boxes.float().reshape(-1, 4)
    candidates = [place(size / 2, size / 2)]
    candidates += [place(float(b[0] + b[2]) / 2, float(b[1] + b[3]) / 2) for b in boxes]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    best, best_score = candidates[0], None
    for x, y in candidates:
        whole, cut = _inside(boxes, x, y, w, h)
        score = (int(whole.sum()) - int(cut.sum()), float(area[whole].sum()))
        if best_score is None or score > best_score:
            best, best_score = (x, y), score
    return best[0], best[1], w, h


def plan_views(boxes_of, ks: list[int], size: int, fit: str) -> dict[tuple[int, int], View]:
    """{(source j, stage k): View} for every stage of the schedule; ``boxes_of(j)`` gives source j's canvas boxes.

    ``crop`` windows are chosen from the last stage backwards: the stored image shows the best window of each
    source, and each earlier (larger) window is the best one that holds the next."""
    if fit not in FITS:
        raise ConfigError(f"ipe_fit {fit!r} is not one of {', '.join(FITS)}")
    views: dict[tuple[int, int], View] = {}
    for j in range(ks[-1] * ks[-1]):
        stages = [k for k in ks if j < k * k]
        later: Rect | None = None
        for k in reversed(stages):
            patch = patch_rect(j, k, size)
            if fit == "rescale":
                window = (0, 0, size, size)
            else:
                window = crop_window(boxes_of(j), size, patch[2], patch[3], contain=later)
            views[(j, k)] = View(window, patch)
            later = window
    return views


def place_boxes(boxes: torch.Tensor, view: View, min_visible: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Source-canvas boxes as they land on the synthetic canvas (clipped to the window) and the mask of those kept:
    at least ``min_visible`` of each box's area shows."""
    wx, wy, ww, wh = view.window
    px, py, pw, ph = view.patch
    b = boxes.float().reshape(-1, 4)
    clipped = torch.stack(
        [
            b[:, 0].clamp(wx, wx + ww),
            b[:, 1].clamp(wy, wy + wh),
            b[:, 2].clamp(wx, wx + ww),
            b[:, 3].clamp(wy, wy + wh),
        ],
        1,
    )
    full = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).clamp(min=1e-9)
    shown = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (shown > 0) & (shown / full >= min_visible)
    out = clipped.clone()
    out[:, [0, 2]] = (clipped[:, [0, 2]] - wx) * (pw / ww) + px
    out[:, [1, 3]] = (clipped[:, [1, 3]] - wy) * (ph / wh) + py
    return out[keep], keep


def remap_boxes(boxes: torch.Tensor, size: int, j: int, k: int) -> torch.Tensor:
    """Boxes of a full ``size`` canvas, rescaled into patch ``j`` of a k x k grid."""
    return place_boxes(boxes, View((0, 0, size, size), patch_rect(j, k, size)))[0]


def expand(canvas: torch.Tensor, old: list[View], new: list[View], new_sources: list[torch.Tensor]) -> torch.Tensor:
    """A single image's canvas (3, S, S) re-laid from the ``old`` views (sources 0..len(old)-1, already forged) to the
    ``new`` ones. ``new_sources`` are the canvases (3, S, S) of the sources that enter, len(old) onwards.

    A source already on the canvas keeps its forged pixels: the part of its old patch that shows its new window is
    redrawn into its new patch. Boxes are not touched here: see :func:`place_boxes`.
    """
    out = torch.empty_like(canvas)
    for j, view in enumerate(new):
        x0, y0, w, h = view.patch
        wx, wy, ww, wh = view.window
        if j < len(old):
            (ox, oy, ow, oh), (px, py, pw, ph) = old[j].window, old[j].patch
            sx, sy = pw / ow, ph / oh
            cx, cy = px + int(round((wx - ox) * sx)), py + int(round((wy - oy) * sy))
            content = canvas[:, cy : cy + int(round(wh * sy)), cx : cx + int(round(ww * sx))]
        else:
            content = new_sources[j - len(old)][:, wy : wy + wh, wx : wx + ww]
        if content.shape[-2:] != (h, w):
            content = F.interpolate(
                content[None].float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True
            )[0]
        out[:, y0 : y0 + h, x0 : x0 + w] = content
    return out
