import numpy as np
import pytest

from dcbench.data.model import DetectionDataset, ImageRecord
from dcbench.evaluation.coco_eval import METRICS, evaluate
from dcbench.evaluation.detections import Detections


def _gt():
    # one 100x100 image; class 0: boxes A and B (medium); class 1: box C (medium)
    im = ImageRecord(
        "x", __file__, 100, 100, [[0, 0, 40, 40], [50, 50, 90, 90], [10, 50, 45, 95]], [0, 0, 1], [False, False, False]
    )
    return DetectionDataset("toy", ["a", "b"], [im])


def test_hand_computed_case():
    # class 0: A found exactly (0.9), a false positive (0.8), B missed -> precision 1 up to recall 0.5:
    #   101-point AP = 51/101 at every IoU threshold.
    # class 1: one detection with IoU 0.72 with C -> matched at thresholds .50-.70 (5 of 10), AP 1 there, 0 above.
    c_det = [10, 50, 45, 95 - 45 * (1 - 0.72)]  # shrink height so IoU = 0.72
    det = Detections([[0, 0, 40, 40], [60, 0, 95, 30], c_det], [0.9, 0.8, 0.7], [0, 0, 1])
    m = evaluate(_gt(), [det])
    ap0 = 51 / 101
    assert m["mAP"] == pytest.approx(100 * (ap0 + 0.5) / 2, abs=1e-9)
    assert m["AP50"] == pytest.approx(100 * (ap0 + 1.0) / 2, abs=1e-9)
    assert m["AP75"] == pytest.approx(100 * (ap0 + 0.0) / 2, abs=1e-9)
    assert m["APs"] is None and m["APl"] is None  # no small or large ground truth: undefined, not 0
    assert m["APm"] == pytest.approx(m["mAP"], abs=1e-9)


def test_perfect_and_empty_detections():
    gt = _gt()
    perfect = Detections(gt.images[0].boxes, [1, 1, 1], gt.images[0].labels)
    assert evaluate(gt, [perfect])["mAP"] == pytest.approx(100.0)
    empty = evaluate(gt, [Detections.empty()])
    # nothing detected: 0 where there is ground truth, undefined where there is none (as with detections)
    assert empty == {"mAP": 0.0, "AP50": 0.0, "AP75": 0.0, "APs": None, "APm": 0.0, "APl": None}


def test_faster_coco_eval_agrees(tmp_path):
    pytest.importorskip("faster_coco_eval")
    rng = np.random.default_rng(0)
    images, dets = [], []
    for k in range(30):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 150, (n, 2))
        wh = rng.uniform(5, 100, (n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, 256)], 1)
        labels = rng.integers(0, 3, n)
        images.append(ImageRecord(str(k), __file__, 256, 256, boxes, labels, rng.random(n) < 0.1))
        m = int(rng.integers(0, 8))
        jitter = boxes[rng.integers(0, n, m)] + rng.normal(0, 6, (m, 4))
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        dets.append(Detections(jitter, rng.random(m), rng.integers(0, 3, m)))
    ds = DetectionDataset("rand", ["a", "b", "c"], images)
    ref = evaluate(ds, dets, backend="pycocotools")
    fast = evaluate(ds, dets, backend="faster-coco-eval")
    for key in METRICS:
        if ref[key] is None:
            assert fast[key] is None
        else:
            assert abs(ref[key] - fast[key]) <= 1e-6 * 100, (key, ref[key], fast[key])
    assert 0 < ref["mAP"] < 100
