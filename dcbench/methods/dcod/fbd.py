"""Foreground-Background Decoupling: a box mask separates objects from background.

* Background suppression by ``alpha``, in one of the paper's two readings: ``update`` damps the change each
  optimiser step makes to background pixels (its prose: suppression "limits updates"), ``input`` scales the
  background pixels the detector sees (its equation). With Adam, damping the *gradient* would be undone by the
  per-pixel normalisation, so ``update`` damps the step itself.
* Random erasing inside boxes: each iteration, each box loses a random rectangle (2-33 % of its area, aspect
  0.3-3.3) in the detector's input, so the object must be recognisable from its remaining parts.
"""

from __future__ import annotations

import math

import torch


def box_mask(targets: list[tuple[torch.Tensor, torch.Tensor]], size: int, device) -> torch.Tensor:
    """(B, 1, S, S) float mask: 1 inside any box of the image, 0 outside. Box edges are rounded outwards."""
    mask = torch.zeros(len(targets), 1, size, size, device=device)
    for i, (boxes, _labels) in enumerate(targets):
        for x1, y1, x2, y2 in boxes.tolist():
            c1, r1 = max(0, math.floor(x1)), max(0, math.floor(y1))
            c2, r2 = min(size, math.ceil(x2)), min(size, math.ceil(y2))
            if c2 > c1 and r2 > r1:
                mask[i, 0, r1:r2, c1:c2] = 1.0
    return mask


def background_weight(mask: torch.Tensor, alpha: float) -> torch.Tensor:
    """1 on the foreground, ``alpha`` on the background."""
    return mask + alpha * (1.0 - mask)


@torch.no_grad()
def damp_update(x: torch.Tensor, before: torch.Tensor, weight: torch.Tensor) -> None:
    """In place: ``x = before + weight * (x - before)``."""
    x.sub_(before).mul_(weight).add_(before)


def random_erase(x: torch.Tensor, targets, p: float, generator: torch.Generator) -> torch.Tensor:
    """A copy of ``x`` with a random rectangle inside each box replaced by noise (with probability ``p`` per box)."""
    out = x.clone()
    size = x.shape[-1]
    for i, (boxes, _labels) in enumerate(targets):
        for x1, y1, x2, y2 in boxes.tolist():
            w, h = x2 - x1, y2 - y1
            if w < 2 or h < 2 or torch.rand((), generator=generator).item() >= p:
                continue
            area = w * h * (0.02 + 0.31 * torch.rand((), generator=generator).item())
            aspect = math.exp(
                math.log(0.3) + (math.log(3.3) - math.log(0.3)) * torch.rand((), generator=generator).item()
            )
            ew = max(1, min(int(round(math.sqrt(area * aspect))), int(w)))
            eh = max(1, min(int(round(math.sqrt(area / aspect))), int(h)))
            ex = int(x1 + (w - ew) * torch.rand((), generator=generator).item())
            ey = int(y1 + (h - eh) * torch.rand((), generator=generator).item())
            ex, ey = max(0, min(ex, size - ew)), max(0, min(ey, size - eh))
            noise = torch.rand((x.shape[1], eh, ew), generator=generator).to(x)
            out[i, :, ey : ey + eh, ex : ex + ew] = noise
    return out
