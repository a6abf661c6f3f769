"""The one evaluator for every detector backend: COCO mAP over the real test set.

Backends return :class:`Detections`; this module scores them with COCO's evaluation and reports all twelve of its
numbers (six AP, six AR) and each class's AP on a 0-100 scale. A metric that COCO leaves undefined (no ground truth in that size range) is ``None``.
Boxes flagged ``ignore`` (crowd, VOC 'difficult') are passed as ``iscrowd`` so that detecting them is neither
rewarded nor punished.

Two implementations of the same evaluation: ``faster-coco-eval`` (the default, in C++: about 6x faster at COCO's
size, 5,000 test images with 100 detections each in 8-12 s against 45-78 s on a busy 2-core CPU) and
``pycocotools``, COCO's own, kept as the reference. The tests hold them to 1e-6 of each other. Which one runs:
the ``backend`` argument of :func:`evaluate`, else ``$DCBENCH_EVALUATOR``, else faster-coco-eval
(:func:`default_backend`, the one place that reads the variable).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from dcbench.data.model import DetectionDataset
from dcbench.data.writers import coco_dict
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections

log = logging.getLogger(__name__)

METRICS = ("mAP", "AP50", "AP75", "APs", "APm", "APl")  # the six a leaderboard shows by default
# the other six of COCO's twelve: average recall given 1, 10 and 100 detections per image, and by object size (at 100)
AR_METRICS = ("AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
ALL_METRICS = METRICS + AR_METRICS  # COCOeval's ``stats``, in its order
PER_CLASS = "per_class_AP"  # beside the six: {class name: AP 0-100, or None for a class with no test box}
BACKENDS = ("pycocotools", "faster-coco-eval")
DEFAULT_BACKEND = "faster-coco-eval"
REFERENCE_BACKEND = "pycocotools"
EVALUATOR_ENV = "DCBENCH_EVALUATOR"
MAX_DETECTIONS = 100  # COCO's limit per image


def default_backend() -> str:
    """The backend :func:`evaluate` uses when not given one: ``$DCBENCH_EVALUATOR`` if set (``pycocotools`` selects
    the reference), else faster-coco-eval. A name that is not a backend is an error, never silently replaced."""
    name = os.environ.get(EVALUATOR_ENV, "").strip() or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ConfigError(f"{EVALUATOR_ENV}={name!r} is not an evaluator backend (known: {', '.join(BACKENDS)})")
    return name


def _api(backend: str):
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    if backend == "faster-coco-eval":
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ImportError as exc:
            raise ConfigError(
                f"faster-coco-eval is not installed: pip install faster-coco-eval (a dcbench dependency), or set "
                f"{EVALUATOR_ENV}={REFERENCE_BACKEND}"
            ) from exc
        # its summary goes to dcbench's debug log (it would log it at INFO): evaluation is quiet, as pycocotools'
        # printout, swallowed below
        return COCO, functools.partial(COCOeval_faster, print_function=log.debug)
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
    dataset: DetectionDataset, detections: Sequence[Detections], *, backend: str | None = None
) -> dict[str, Any]:
    """COCO metrics (0-100) of ``detections`` (one per image of ``dataset``, same order), computed by ``backend``
    (default: :func:`default_backend`)."""
    if len(detections) != len(dataset):
        raise ValueError(f"{len(detections)} detection entries for {len(dataset)} images")
    backend = backend or default_backend()
    COCO, COCOeval = _api(backend)
    log.debug("evaluating %d images with %s", len(dataset), backend)
    gt_dict = coco_dict(dataset)
    results = detections_to_coco(detections)
    if not gt_dict["annotations"] or not results:
        # pycocotools cannot load an empty result list. Nothing detected scores 0 where there is something to
        # detect; a metric without ground truth (e.g. APl with no large objects) stays undefined, as COCOeval has it
        return {
            **_empty_result_metrics(gt_dict["annotations"]),
            PER_CLASS: _empty_per_class(gt_dict["annotations"], dataset.categories),
        }
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats[: len(ALL_METRICS)]]
    metrics: dict = {m: (None if v < 0 else 100.0 * v) for m, v in zip(ALL_METRICS, stats)}
    metrics[PER_CLASS] = _per_class_ap(ev, dataset.categories)
    return metrics


def _per_class_ap(ev, categories: list[str]) -> dict[str, float | None]:
    """Each class's AP at IoU 0.50:0.95 (0-100), from the accumulated precision table (IoU threshold x recall x
    class x area range x max detections; all areas, 100 detections); None for a class without test boxes."""
    precision = np.asarray(ev.eval["precision"])
    out: dict[str, float | None] = {}
    for k, name in enumerate(categories):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        out[name] = 100.0 * float(p.mean()) if p.size else None
    return out


def _empty_per_class(annotations: list[dict], categories: list[str]) -> dict[str, float | None]:
    present = {a["category_id"] - 1 for a in annotations if not a.get("iscrowd", 0)}
    return {name: (0.0 if k in present else None) for k, name in enumerate(categories)}


# COCOeval's area ranges (inclusive), in pixels^2 of the annotation's area
_ALL, _SMALL, _MEDIUM, _LARGE = (0, 1e10), (0, 32**2), (32**2, 96**2), (96**2, 1e10)
_AREA_RANGES = {
    "mAP": _ALL,
    "AP50": _ALL,
    "AP75": _ALL,
    "APs": _SMALL,
    "APm": _MEDIUM,
    "APl": _LARGE,
    "AR1": _ALL,
    "AR10": _ALL,
    "AR100": _ALL,
    "ARs": _SMALL,
    "ARm": _MEDIUM,
    "ARl": _LARGE,
}


def _empty_result_metrics(annotations: list[dict]) -> dict[str, float | None]:
    counted = [a["area"] for a in annotations if not a.get("iscrowd", 0)]
    return {m: (0.0 if any(lo <= area <= hi for area in counted) else None) for m, (lo, hi) in _AREA_RANGES.items()}
