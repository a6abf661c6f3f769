"""``dcbench run`` end to end with the smoke protocol: the built-in dataset and a real one."""

import json

import pytest

pytest.importorskip("ultralytics")

from dcbench.cli.app import main  # noqa: E402
from dcbench.condensed import load_condensed  # noqa: E402
from dcbench.evaluation.coco_eval import ALL_METRICS, PER_CLASS  # noqa: E402
from tests.conftest import shared  # noqa: E402


def _result(out):
    files = list(out.rglob("result.json"))
    assert len(files) == 1
    return files[0].parent, json.loads(files[0].read_text())


@pytest.mark.slow
def test_random_smoke_on_shapes_and_resume(tmp_path, capsys, monkeypatch):
    # a relative --out, as in the README's main command (Ultralytics would resolve it against its own runs dir)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs"
    argv = [
        "run",
        "--method",
        "random",
        "--detector",
        "yolov3-tiny",
        "--ratio",
        "0.1",
        "--protocol",
        "smoke",
        "--out",
        "runs",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    cell, result = _result(out)
    assert result["status"] == "ok" and result["budget"] == 100 and result["config"]["protocol"]["name"] == "smoke"
    assert set(result["metrics"]) == {*ALL_METRICS, PER_CLASS}  # COCO's twelve numbers and per-class AP
    assert {"load_s", "condense_s", "train_s", "predict_s", "evaluate_s", "total_s"} <= set(result["timings"])
    assert result["environment"]["torch"] and result["environment"]["ultralytics"]
    assert result["evaluator"]["name"] == "faster-coco-eval" and result["evaluator"]["version"]
    # the compute columns compare machines only if the record says which CPU and how many threads timed it
    assert (
        result["device"]["name"] == "cpu" and isinstance(result["device"]["model"], str) and result["device"]["model"]
    )
    assert result["device"]["threads"] >= 1 and result["device"]["cores"] >= 1
    condensed = load_condensed(cell / result["condensed"]["path"])
    assert (
        len(condensed.dataset) == 100
        and condensed.manifest["source_fingerprint"] == result["data"]["train_fingerprint"]
    )
    assert "mAP" in capsys.readouterr().out
    # a finished cell is not redone
    mtime = (cell / "result.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert (cell / "result.json").stat().st_mtime_ns == mtime
    assert "exists" in capsys.readouterr().err


def test_bad_ratio_is_one_line_and_nothing_written(tmp_path, capsys):
    assert main(["run", "--ratio", "1.5", "--out", str(tmp_path / "r"), "--protocol", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ratio must be a fraction in (0, 1]" in err[0]
    assert not (tmp_path / "r").exists()


def test_unknown_detector_suggests(tmp_path, capsys):
    assert (
        main(["run", "--detector", "yolov3-tny", "--out", str(tmp_path), "--protocol", "smoke", "--device", "cpu"]) == 2
    )
    assert "did you mean 'yolov3-tiny'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.realdata
def test_bccd_smoke_end_to_end(tmp_path):
    root = shared("bccd") / "BCCD"
    assert (
        main(
            [
                "run",
                "--dataset",
                f"voc:{root}",
                "--ratio",
                "0.05",
                "--protocol",
                "smoke",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    _, result = _result(tmp_path)
    assert result["data"]["train"] == 292 and result["data"]["test"] == 72  # trainval / test split files
    assert result["budget"] == 15 and result["data"]["categories"] == ["Platelets", "RBC", "WBC"]


@pytest.mark.slow
def test_student_repeats_average_several_students_of_one_condensed_set(tmp_path):
    from dcbench.api import read_result_record
    from tests.conftest import smoke_run

    assert main(smoke_run(tmp_path, extra=("--student-repeats", "2"))) == 0
    record = read_result_record(next(tmp_path.glob("*/result.json")))
    per = record["metrics_per_student"]
    assert len(per) == 2 and [r["seed"] for r in record["student"]["repeats"]] == [0, 1]
    assert record["metrics"]["AP50"] == pytest.approx((per[0]["AP50"] + per[1]["AP50"]) / 2)
    assert record["config"]["protocol"]["student_repeats"] == 2 and "+" in record["config"]["protocol"]["protocol_id"]
