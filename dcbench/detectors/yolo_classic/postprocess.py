"""From decoded rows to detections: the archive's evaluation NMS (``yolov3-classic.md`` section 5).

Rows whose objectness exceeds ``conf`` and whose w and h lie in (2, 4096) px are kept; every class whose score
obj * cls exceeds ``conf`` becomes its own candidate (multi-label); NMS runs once over all classes with each class's
boxes offset by class x 4096 px, so boxes of different classes never suppress each other.

Left out: ``merge`` (replacing each kept box by the score-weighted mean of the boxes it suppressed); kept boxes are
the plain NMS survivors. Added: at most :data:`MAX_CANDIDATES` candidates enter NMS, the best by score (an
undertrained model at conf 0.001 can otherwise hand NMS hundreds of thousands), and at most :data:`MAX_DET` come
out per image, as dcbench's other backends and COCO's evaluation (100 detections per image) have it.
"""

from __future__ import annotations

import torch

CONF = 0.001
IOU = 0.6
MIN_WH, MAX_WH = 2.0, 4096.0
MAX_CANDIDATES = 30_000
MAX_DET = 100


def xywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)


def non_max_suppression(
    decoded: torch.Tensor, conf: float = CONF, iou: float = IOU, max_det: int = MAX_DET
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per image of ``decoded`` (B, N, 5 + nc): boxes (k, 4) x1 y1 x2 y2 in input pixels, scores (k,), labels (k,)."""
    from torchvision.ops import nms

    out = []
    for x in decoded.float():
        wh = x[:, 2:4]
        x = x[(x[:, 4] > conf) & (wh > MIN_WH).all(1) & (wh < MAX_WH).all(1)]
        scores = x[:, 5:] * x[:, 4:5]
        i, label = (scores > conf).nonzero(as_tuple=True)
        boxes, score = xywh_to_xyxy(x[i, :4]), scores[i, label]
        if len(score) > MAX_CANDIDATES:
            top = score.topk(MAX_CANDIDATES).indices
            boxes, score, label = boxes[top], score[top], label[top]
        keep = nms(boxes + label[:, None].to(boxes) * MAX_WH, score, iou)[:max_det]
        out.append((boxes[keep], score[keep], label[keep]))
    return out
