"""The one evaluator for every detector backend: COCO mAP over the real test set.

Backends return :class:`Detections`; this module scores them with pycocotools (or faster-coco-eval, which must
agree to 1e-6) and reports the six standard numbers on a 0-100 scale. A metric that COCO leaves undefined (no
ground truth in that size range) is ``None``. Boxes flagged ``ignore`` (crowd, VOC 'difficult') are passed as
``iscrowd`` so that detecting them is neither rewarded nor punished.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from dcbench.data.model import DetectionDataset
from dcbench.data.writers import coco_dict
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections

METRICS = ("mAP", "AP50", "AP75", "APs", "APm", "APl")
BACKENDS = ("pycocotools", "faster-coco-eval")
MAX_DETECTIONS = 100  # COCO's limit per image


def _api(backend: str):
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    if backend == "faster-coco-eval":
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ImportError as exc:
            raise ConfigError("faster-coco-eval is not installed: pip install faster-coco-eval") from exc
        return COCO, COCOeval_faster
    raise ConfigError(f"unknown evaluator backend {backend!r} (known: {', '.join(BACKENDS)})")


def detections_to_coco(detections: Sequence[Detections], max_per_image: int = MAX_DETECTIONS) -> list[dict]:
    results = []
    for k, det in enumerate(detections):
        order = np.argsort(-det.scores, kind="stable")[:max_per_image]
        for i in order:
            x1, y1, x2, y2 = det.boxes[i].tolist()
            results.append(
                {
                    "image_id": k + 1,
                    "category_id": int(det.labels[i]) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(det.scores[i]),
                }
            )
    return results


def evaluate(
    dataset: DetectionDataset, detections: Sequence[Detections], *, backend: str = "pycocotools"
) -> dict[str, float | None]:
    """COCO metrics (0-100) of ``detections`` (one per image of ``dataset``, same order)."""
    if len(detections) != len(dataset):
        raise ValueError(f"{len(detections)} detection entries for {len(dataset)} images")
    COCO, COCOeval = _api(backend)
    gt_dict = coco_dict(dataset)
    results = detections_to_coco(detections)
    if not gt_dict["annotations"] or not results:
        # pycocotools cannot load an empty result list. Nothing detected scores 0 where there is something to
        # detect; a metric without ground truth (e.g. APl with no large objects) stays undefined, as COCOeval has it
        return _empty_result_metrics(gt_dict["annotations"])
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats[: len(METRICS)]]
    return {m: (None if v < 0 else 100.0 * v) for m, v in zip(METRICS, stats)}


# COCOeval's area ranges (inclusive), in pixels^2 of the annotation's area
_AREA_RANGES = {
    "mAP": (0, 1e10),
    "AP50": (0, 1e10),
    "AP75": (0, 1e10),
    "APs": (0, 32**2),
    "APm": (32**2, 96**2),
    "APl": (96**2, 1e10),
}


def _empty_result_metrics(annotations: list[dict]) -> dict[str, float | None]:
    counted = [a["area"] for a in annotations if not a.get("iscrowd", 0)]
    return {m: (0.0 if any(lo <= area <= hi for area in counted) else None) for m, (lo, hi) in _AREA_RANGES.items()}
