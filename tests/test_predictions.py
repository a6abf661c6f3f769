"""A cell keeps its student's test-set predictions, all twelve COCO numbers, and per-class AP; the predictions score
again to the stored metrics, with plain pycocotools and with ``dcbench eval``."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from dcbench.cli.app import main
from tests.conftest import smoke_run

pytest.importorskip("ultralytics")

SMALL = "shapes:?n_train=40&n_test=12&size=64&max_extent=28"


@pytest.fixture(scope="module")
def smoke_cell(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(smoke_run(out, dataset=SMALL, ratio="0.25")) == 0
    (result,) = out.rglob("result.json")
    return result.parent


@pytest.mark.slow
def test_a_cell_keeps_its_predictions_and_all_twelve_coco_numbers(smoke_cell):
    from dcbench.evaluation.coco_eval import ALL_METRICS, PER_CLASS

    record = json.loads((smoke_cell / "result.json").read_text())
    assert record["predictions"] == ["predictions.json"]
    assert set(record["metrics"]) == {*ALL_METRICS, PER_CLASS}
    predictions = json.loads((smoke_cell / "predictions.json").read_text())
    assert isinstance(predictions, list) and predictions, "a smoke student still predicts boxes"
    assert {"image_id", "category_id", "bbox", "score"} <= set(predictions[0])


def test_plain_pycocotools_rescoring_the_predictions_reproduces_the_stored_metrics(smoke_cell):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.data.writers import coco_dict
    from dcbench.evaluation.coco_eval import ALL_METRICS

    record = json.loads((smoke_cell / "result.json").read_text())
    test = resolve_train_test(load_dataset(record["config"]["dataset"])).test
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_dict(test)
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(str(smoke_cell / "predictions.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for name, value in zip(ALL_METRICS, ev.stats):
        stored = record["metrics"][name]
        if value < 0:
            assert stored is None, name
        else:
            assert stored is not None and abs(100 * value - stored) <= 1e-6, (name, 100 * value, stored)


def test_dcbench_eval_rescores_a_predictions_file_with_either_evaluator(smoke_cell, capsys):
    record = json.loads((smoke_cell / "result.json").read_text())
    for evaluator in ("pycocotools", "faster-coco-eval"):
        assert main(["eval", str(smoke_cell / "predictions.json"), "--evaluator", evaluator, "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        assert again.keys() == record["metrics"].keys()
        for name, value in again.items():
            if isinstance(value, float):
                assert abs(value - record["metrics"][name]) <= 1e-6, name


def test_a_predictions_file_that_is_not_one_is_a_one_line_error(smoke_cell, tmp_path, capsys):
    bad = tmp_path / "predictions.json"
    for content, problem in (
        ('{"a": 1}', "not a list"),
        ('[{"image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]', "image_id 999"),
        ('[{"image_id": 1, "category_id": 1, "bbox": ["0", 0, 1, 1], "score": 0.5}]', "finite numbers"),
    ):
        bad.write_text(content)
        assert main(["eval", str(bad), "--train", SMALL]) == 2
        err = capsys.readouterr().err
        assert problem in err and str(bad) in err and "Traceback" not in err


def test_a_predictions_file_with_real_scores_rescores_to_what_pycocotools_says(smoke_cell, tmp_path, capsys):
    """A smoke student finds nothing (every number 0), so the read-back path is held to non-trivial numbers too:
    predictions made from the test boxes, jittered, with false positives."""
    import numpy as np

    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.evaluation.coco_eval import detections_to_coco, evaluate
    from dcbench.evaluation.detections import Detections

    record = json.loads((smoke_cell / "result.json").read_text())
    test = resolve_train_test(load_dataset(record["config"]["dataset"])).test
    rng = np.random.default_rng(0)
    detections = []
    for im in test.images:
        boxes = np.concatenate([im.boxes + rng.normal(0, 3, im.boxes.shape), rng.uniform(0, 100, (2, 4))])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.concatenate([im.labels, rng.integers(0, test.num_classes, 2)])
        detections.append(Detections(boxes.astype(np.float32), rng.random(len(boxes)).astype(np.float32), labels))
    expected = evaluate(test, detections, backend="pycocotools")
    assert expected["mAP"] > 10
    cell = tmp_path / "cell"
    cell.mkdir()
    (cell / "result.json").write_text((smoke_cell / "result.json").read_text())
    (cell / "predictions.json").write_text(json.dumps(detections_to_coco(detections)))
    assert main(["eval", str(cell / "predictions.json"), "--evaluator", "pycocotools", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for name in ("mAP", "AP50", "AR100"):
        assert abs(again[name] - expected[name]) <= 1e-6, name
