"""Per-iteration jitter and flip of the detector's input, with the boxes moved to match."""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAD = 0.5  # grey fill where the shift uncovers the border


def shift_and_flip(x: torch.Tensor, targets, max_shift: int, flip: bool, generator: torch.Generator):
    """One random (dx, dy) shift with grey padding and an optional horizontal flip for the whole batch.

    Returns the transformed images and targets; boxes are shifted, mirrored and clipped to the canvas, and boxes
    pushed (almost) out of view are dropped.
    """
    size = x.shape[-1]
    dx = int(torch.randint(-max_shift, max_shift + 1, (), generator=generator)) if max_shift else 0
    dy = int(torch.randint(-max_shift, max_shift + 1, (), generator=generator)) if max_shift else 0
    do_flip = bool(flip and torch.rand((), generator=generator).item() < 0.5)
    out = x
    if dx or dy:
        padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift), value=PAD)
        top, left = max_shift - dy, max_shift - dx
        out = padded[:, :, top : top + size, left : left + size]
    if do_flip:
        out = out.flip(-1)
    moved = []
    for boxes, labels in targets:
        b = boxes.clone().float()
        b[:, [0, 2]] += dx
        b[:, [1, 3]] += dy
        if do_flip:
            b = torch.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], 1)
        b = b.clamp(0, size)
        keep = ((b[:, 2] - b[:, 0]) >= 2) & ((b[:, 3] - b[:, 1]) >= 2)
        moved.append((b[keep], labels[keep]))
    return out, moved
