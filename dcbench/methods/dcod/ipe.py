"""Incremental PatchExpand: the canvas becomes a k x k grid of patches, each with its own real image and
boxes, and k grows during the optimisation (1 -> 2 -> 3 at thirds of the run by default).

How a stage change works here (the paper gives no more detail): the synthetic image has an ordered list of
*sources* (real training images, the first one being its initialisation). At stage k it shows sources
0..k^2-1, source j in patch (row j // k, column j % k), each patch about S/k wide. On entering stage k, sources already
on the canvas keep their forged pixels, resampled to the new patch size; new sources enter as their real image
letterboxed into their patch. The stored image is the whole canvas with the union of the patch boxes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dcbench.errors import ConfigError


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


def remap_boxes(boxes: torch.Tensor, size: int, j: int, k: int) -> torch.Tensor:
    """Boxes of a full ``size`` canvas, placed into patch ``j`` of a k x k grid."""
    x0, y0, w, h = patch_rect(j, k, size)
    out = boxes.clone().float()
    out[:, [0, 2]] = out[:, [0, 2]] * (w / size) + x0
    out[:, [1, 3]] = out[:, [1, 3]] * (h / size) + y0
    return out


def expand(canvas: torch.Tensor, old_k: int, new_k: int, new_sources: list[torch.Tensor]) -> torch.Tensor:
    """A single image's canvas (3, S, S) re-laid from an old_k grid to a new_k grid.

    ``new_sources`` are the full-canvas images (3, S, S) of sources old_k^2..new_k^2-1. Boxes are not touched
    here: they are kept per source in full-canvas coordinates and placed with :func:`remap_boxes`.
    """
    size = canvas.shape[-1]
    out = torch.empty_like(canvas)
    for j in range(new_k * new_k):
        x0, y0, w, h = patch_rect(j, new_k, size)
        if j < old_k * old_k:
            ox, oy, ow, oh = patch_rect(j, old_k, size)
            content = canvas[:, oy : oy + oh, ox : ox + ow]
        else:
            content = new_sources[j - old_k * old_k]
        out[:, y0 : y0 + h, x0 : x0 + w] = F.interpolate(
            content[None].float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return out
