"""The archive-era YOLOv3 loss: ``build_targets`` and the GIoU / objectness / class loss (``yolov3-classic.md``
section 3; section 6 for the inversion variant).

Every (target, anchor) pair of a head whose co-centred wh-IoU exceeds ``iou_t`` is a positive, in the cell holding
the box centre only (no neighbour cells, no wh-ratio rule), so a box may be positive at several anchors and heads or
at none. Per head: 1 - GIoU averaged over the positives, objectness BCE averaged over every anchor cell (target 0, at
positives (1 - gr) + gr * GIoU), class BCE (one-hot, no smoothing) averaged over positives x classes when there is
more than one class. The heads are summed without per-head balance and weighted 3.54 / 64.3 / 37.4 * nc / 80.

Left out: the focal-loss wrapper, off (fl_gamma 0) in every setting the spec names, DIODE's included. The grid cell is
clamped to the map, which the archive code lacked (the spec asks for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-16


@dataclass(frozen=True)
class LossGains:
    giou: float = 3.54
    obj: float = 64.3
    cls: float = 37.4  # at 80 classes: the total scales it by nc / 80
    cls_pw: float = 1.0
    obj_pw: float = 1.0
    iou_t: float = 0.20


TRAIN = LossGains()
DIODE = LossGains(iou_t=0.225)  # the older compute_loss DIODE inverts through (section 6); it also runs with gr = 0


@dataclass
class Matches:
    """One head's positives: image, anchor (0-2 within the head), cell row and column; box target (offset in the
    cell, w, h, in grid units), the matched anchor's size in grid units, and the class."""

    b: torch.Tensor
    a: torch.Tensor
    gj: torch.Tensor
    gi: torch.Tensor
    tbox: torch.Tensor
    anchors: torch.Tensor
    cls: torch.Tensor


def wh_iou(anchors: torch.Tensor, wh: torch.Tensor) -> torch.Tensor:
    """(na, n) IoU of co-centred boxes: only the sizes matter."""
    inter = torch.min(anchors[:, None], wh[None]).prod(2)
    return inter / (anchors.prod(1)[:, None] + wh.prod(1)[None] - inter)


def build_targets(raws: list[torch.Tensor], targets: torch.Tensor, heads, iou_t: float) -> list[Matches]:
    """``targets`` (n, 6): image index, class, centre x, centre y, w, h, the last four in 0-1 of the input.
    ``heads``: (stride, anchors in pixels) per raw output, as ``YOLO.heads()`` gives them."""
    out = []
    for raw, (stride, anchors_px) in zip(raws, heads):
        ny, nx = raw.shape[2:4]
        anchors = anchors_px.to(targets) / stride
        t = targets * targets.new_tensor([1, 1, nx, ny, nx, ny])
        a = torch.zeros(0, dtype=torch.long, device=targets.device)
        if len(t):
            a, k = (wh_iou(anchors, t[:, 4:6]) > iou_t).nonzero(as_tuple=True)
            t = t[k]
        gxy = t[:, 2:4]
        gi = gxy[:, 0].long().clamp(0, nx - 1)
        gj = gxy[:, 1].long().clamp(0, ny - 1)
        tbox = torch.cat((gxy - torch.stack((gi, gj), 1).to(gxy), t[:, 4:6]), 1)
        out.append(Matches(t[:, 0].long(), a, gj, gi, tbox, anchors[a], t[:, 1].long()))
    return out


def giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of paired (n, 4) centre-x, centre-y, w, h boxes."""
    a1, a2 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b1, b2 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    inter = (torch.min(a2, b2) - torch.max(a1, b1)).clamp(0).prod(1)
    union = a[:, 2:].prod(1) + b[:, 2:].prod(1) - inter + EPS
    hull = (torch.max(a2, b2) - torch.min(a1, b1)).prod(1) + EPS
    return inter / union - (hull - union) / hull


def compute_loss(
    raws: list[torch.Tensor], targets: torch.Tensor, heads, nc: int, gains: LossGains = TRAIN, gr: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """The total loss (a scalar) and its weighted box / obj / cls parts. ``gr``: how far the objectness target
    of a positive follows its GIoU (0: always 1); training ramps it 0 to 1 over the burn-in."""
    raws = [r.float() for r in raws]  # under autocast the heads may be half precision; the loss is not
    device = raws[0].device
    bce_cls = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([gains.cls_pw], device=device))
    bce_obj = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([gains.obj_pw], device=device))
    lbox, lobj, lcls = (torch.zeros((), device=device) for _ in range(3))
    for raw, m in zip(raws, build_targets(raws, targets.to(device).float(), heads, gains.iou_t)):
        tobj = torch.zeros_like(raw[..., 4])
        if len(m.b):
            ps = raw[m.b, m.a, m.gj, m.gi]
            pbox = torch.cat((ps[:, :2].sigmoid(), ps[:, 2:4].exp().clamp(max=1e3) * m.anchors), 1)
            g = giou(pbox, m.tbox)
            lbox = lbox + (1.0 - g).mean()
            tobj[m.b, m.a, m.gj, m.gi] = (1.0 - gr) + gr * g.detach().clamp(0)
            if nc > 1:
                onehot = torch.zeros_like(ps[:, 5:])
                onehot[torch.arange(len(m.b), device=device), m.cls] = 1.0
                lcls = lcls + bce_cls(ps[:, 5:], onehot)
        lobj = lobj + bce_obj(raw[..., 4], tobj)
    parts = (gains.giou * lbox, gains.obj * lobj, gains.cls * nc / 80 * lcls)
    total = parts[0] + parts[1] + parts[2]
    return total, {k: float(v.detach()) for k, v in zip(("box", "obj", "cls"), parts)}


def normalised_targets(per_image, width: int, height: int) -> torch.Tensor:
    """(n, 6) loss targets from one ``(boxes (k, 4) x1 y1 x2 y2 pixels, labels (k,))`` pair per image."""
    rows = []
    for i, (boxes, labels) in enumerate(per_image):
        boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        labels = torch.as_tensor(labels).reshape(-1).to(boxes)
        scale = boxes.new_tensor([width, height])
        xy = (boxes[:, :2] + boxes[:, 2:]) / 2 / scale
        wh = (boxes[:, 2:] - boxes[:, :2]) / scale
        rows.append(torch.cat((torch.full_like(labels, float(i))[:, None], labels[:, None], xy, wh), 1))
    return torch.cat(rows) if rows else torch.zeros(0, 6)
