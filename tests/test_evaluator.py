import numpy as np
import pytest

from dcbench.data.model import DetectionDataset, ImageRecord
from dcbench.evaluation.coco_eval import (
    ALL_METRICS,
    BACKENDS,
    EVALUATOR_ENV,
    PER_CLASS,
    default_backend,
    evaluate,
)
from dcbench.evaluation.detections import Detections


def _gt():
    # one 100x100 image; class 0: boxes A and B (medium); class 1: box C (medium)
    im = ImageRecord(
        "x", __file__, 100, 100, [[0, 0, 40, 40], [50, 50, 90, 90], [10, 50, 45, 95]], [0, 0, 1], [False, False, False]
    )
    return DetectionDataset("toy", ["a", "b"], [im])


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_case(backend):
    # class 0: A found exactly (0.9), a false positive (0.8), B missed -> precision 1 up to recall 0.5:
    #   101-point AP = 51/101 at every IoU threshold.
    # class 1: one detection with IoU 0.72 with C -> matched at thresholds .50-.70 (5 of 10), AP 1 there, 0 above.
    c_det = [10, 50, 45, 95 - 45 * (1 - 0.72)]  # shrink height so IoU = 0.72
    det = Detections([[0, 0, 40, 40], [60, 0, 95, 30], c_det], [0.9, 0.8, 0.7], [0, 0, 1])
    m = evaluate(_gt(), [det], backend=backend)
    ap0 = 51 / 101
    assert m["mAP"] == pytest.approx(100 * (ap0 + 0.5) / 2, abs=1e-9)
    assert m["AP50"] == pytest.approx(100 * (ap0 + 1.0) / 2, abs=1e-9)
    assert m["AP75"] == pytest.approx(100 * (ap0 + 0.0) / 2, abs=1e-9)
    assert m["APs"] is None and m["APl"] is None  # no small or large ground truth: undefined, not 0
    assert m["APm"] == pytest.approx(m["mAP"], abs=1e-9)
    assert m[PER_CLASS]["a"] == pytest.approx(100 * ap0, abs=1e-9) and m[PER_CLASS]["b"] == pytest.approx(50.0)
    # recall: class 0 finds A of A and B at every threshold (0.5), class 1 finds C at 5 of 10 thresholds (0.5); the
    # best detection of each class and image is the one that matches, so one detection per image recalls as much
    for key in ("AR1", "AR10", "AR100", "ARm"):
        assert m[key] == pytest.approx(50.0, abs=1e-9), key
    assert m["ARs"] is None and m["ARl"] is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_perfect_and_empty_detections(backend):
    gt = _gt()
    perfect = Detections(gt.images[0].boxes, [1, 1, 1], gt.images[0].labels)
    assert evaluate(gt, [perfect], backend=backend)["mAP"] == pytest.approx(100.0)
    empty = evaluate(gt, [Detections.empty()], backend=backend)
    # nothing detected: 0 where there is ground truth, undefined where there is none (as with detections)
    assert empty == {
        "mAP": 0.0,
        "AP50": 0.0,
        "AP75": 0.0,
        "APs": None,
        "APm": 0.0,
        "APl": None,
        "AR1": 0.0,
        "AR10": 0.0,
        "AR100": 0.0,
        "ARs": None,
        "ARm": 0.0,
        "ARl": None,
        PER_CLASS: {"a": 0.0, "b": 0.0},
    }


# -- the two backends: faster-coco-eval (the default) against pycocotools (the reference), to 1e-6 -------------------
def _random_case(seed: int, n_images: int, *, crowd: float = 0.1, max_side: float = 100.0, dets: int = 8):
    """Images of 256 px with up to 5 boxes of sides 5..``max_side`` (some crowd), detections jittered from them plus
    false positives of any size; an image may have no boxes or no detections."""
    rng = np.random.default_rng(seed)
    images, detections = [], []
    for k in range(n_images):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 150, (n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(5, max_side, (n, 2)), 256)], 1)
        images.append(ImageRecord(str(k), __file__, 256, 256, boxes, rng.integers(0, 3, n), rng.random(n) < crowd))
        m = int(rng.integers(0, dets + 1))
        near = boxes[rng.integers(0, n, m)] + rng.normal(0, 6, (m, 4)) if n else np.zeros((0, 4))
        xy = rng.uniform(0, 200, (m, 2))
        far = np.concatenate([xy, xy + rng.uniform(3, 200, (m, 2))], 1)
        cand = np.where((rng.random(m) < 0.7)[:, None], near, far) if n else far
        cand[:, 2:] = np.maximum(cand[:, 2:], cand[:, :2] + 1)
        detections.append(Detections(cand, rng.random(m), rng.integers(0, 3, m)))
    return DetectionDataset("rand", ["a", "b", "c"], images), detections


def _cases():
    yield "random", _random_case(0, 30)
    yield "crowd boxes", _random_case(1, 40, crowd=0.5)
    yield "no large ground truth", _random_case(2, 40, max_side=60)  # APl undefined, large false positives exist
    yield "many images", _random_case(3, 400, dets=30)
    ds, dets = _random_case(4, 30)
    yield "detections on a few images only", (ds, [d if k % 7 == 0 else Detections.empty() for k, d in enumerate(dets)])
    ds, dets = _random_case(5, 30)
    tied = [Detections(d.boxes, np.round(d.scores, 1), d.labels) for d in dets]  # equal scores: order must agree
    yield "tied scores", (ds, tied)
    yield "no detections at all", (ds, [Detections.empty() for _ in dets])


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
@pytest.mark.slow
def test_faster_coco_eval_agrees_with_pycocotools(case):
    ds, dets = case[1]
    ref = evaluate(ds, dets, backend="pycocotools")
    fast = evaluate(ds, dets, backend="faster-coco-eval")
    assert ref.keys() == fast.keys() == {*ALL_METRICS, PER_CLASS}
    for key in ALL_METRICS:
        if ref[key] is None:
            assert fast[key] is None, key
        else:
            assert fast[key] is not None and abs(ref[key] - fast[key]) <= 1e-6, (key, ref[key], fast[key])
    for name, ap in ref[PER_CLASS].items():
        assert (ap is None) == (fast[PER_CLASS][name] is None), name
        assert ap is None or abs(ap - fast[PER_CLASS][name]) <= 1e-6, (name, ap, fast[PER_CLASS][name])
    # COCO's mAP is the mean of the classes' APs over the classes with ground truth
    defined = [ap for ap in ref[PER_CLASS].values() if ap is not None]
    if defined and ref["mAP"] is not None:
        assert abs(ref["mAP"] - sum(defined) / len(defined)) <= 1e-6


def test_the_size_range_without_ground_truth_is_undefined_for_both():
    ds, dets = _random_case(2, 40, max_side=60)
    for backend in BACKENDS:
        m = evaluate(ds, dets, backend=backend)
        assert m["APl"] is None and m["mAP"] is not None and 0 < m["mAP"] < 100


def test_faster_coco_eval_is_the_default_and_the_environment_selects_pycocotools(monkeypatch):
    from dcbench.evaluation import coco_eval

    monkeypatch.delenv(EVALUATOR_ENV, raising=False)
    assert default_backend() == "faster-coco-eval"
    used = []
    real_api = coco_eval._api
    monkeypatch.setattr(coco_eval, "_api", lambda backend: used.append(backend) or real_api(backend))
    ds, dets = _random_case(0, 5)
    evaluate(ds, dets)
    monkeypatch.setenv(EVALUATOR_ENV, "pycocotools")
    evaluate(ds, dets)
    evaluate(ds, dets, backend="faster-coco-eval")  # the argument wins over the environment
    assert used == ["faster-coco-eval", "pycocotools", "faster-coco-eval"]


def test_an_unknown_evaluator_is_a_clear_error(monkeypatch):
    from dcbench.errors import ConfigError

    monkeypatch.setenv(EVALUATOR_ENV, "cocoapi")
    with pytest.raises(ConfigError, match="DCBENCH_EVALUATOR='cocoapi'.*pycocotools"):
        evaluate(*_random_case(0, 3))
    with pytest.raises(ConfigError, match="unknown evaluator backend"):
        evaluate(*_random_case(0, 3), backend="cocoapi")


def test_provenance_records_the_evaluator_and_both_libraries(monkeypatch):
    from importlib import metadata

    from dcbench.harness.provenance import evaluator_backend, library_versions

    monkeypatch.delenv(EVALUATOR_ENV, raising=False)
    assert evaluator_backend() == {"name": "faster-coco-eval", "version": metadata.version("faster-coco-eval")}
    monkeypatch.setenv(EVALUATOR_ENV, "pycocotools")
    assert evaluator_backend() == {"name": "pycocotools", "version": metadata.version("pycocotools")}
    versions = library_versions()
    assert versions["faster-coco-eval"] and versions["pycocotools"]


def test_the_evaluator_is_not_a_setting_that_makes_results_stale(monkeypatch):
    # results scored with pycocotools stay current under the faster default: a finished cell is stale when the
    # settings compared (protocol and method, current_settings) differ, and the evaluator is in neither
    import json

    from dcbench.harness.identity import CellConfig
    from dcbench.harness.staleness import current_settings
    from dcbench.protocols import get_protocol

    config = CellConfig("random", "yolo11n", 0.01, 0, get_protocol("quick"), dataset="shapes", dataset_id="shapes")
    settings = []
    for backend in BACKENDS:
        monkeypatch.setenv(EVALUATOR_ENV, backend)
        settings.append(json.dumps(current_settings(config), sort_keys=True))
    assert settings[0] == settings[1] and "coco" not in settings[0] and "evaluator" not in settings[0]
