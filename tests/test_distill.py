"""``labels = distill``: a student trained on the condensed set's boxes plus PKD from the frozen Fetch teacher."""

from __future__ import annotations

import json

import pytest

from dcbench.cli.app import main
from dcbench.errors import ConfigError
from tests.conftest import smoke_run

torch = pytest.importorskip("torch")

SMALL = "shapes:?n_train=24&n_test=6&size=64&max_extent=28"


def test_pkd_is_zero_for_the_same_maps_blind_to_scale_and_shift_and_positive_otherwise():
    from dcbench.detectors.distill import pkd, pkd_level

    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 8, 6, 6, generator=g)
    assert float(pkd_level(t, t)) == pytest.approx(0.0, abs=1e-6)
    # per-channel normalisation: a channel scaled and shifted is the same pattern
    scaled = t * torch.linspace(0.5, 3.0, 8).view(1, 8, 1, 1) + 2.0
    assert float(pkd_level(scaled, t)) == pytest.approx(0.0, abs=1e-5)
    other = torch.randn(2, 8, 6, 6, generator=g)
    assert float(pkd_level(other, t)) == pytest.approx(1.0, abs=0.2)  # unrelated: 1 - r with r near 0
    m = 2 * 6 * 6  # values per channel: the unbiased std makes 1 - r come out times (m - 1) / m
    assert float(pkd_level(-t, t)) == pytest.approx(2.0 * (m - 1) / m, abs=1e-4)  # anti-correlated: r = -1
    assert float(pkd([t, other], [t, t], weight=6.0)) == pytest.approx(6.0 * float(pkd_level(other, t)), rel=1e-5)


def test_pkd_resizes_a_smaller_student_map_and_refuses_other_widths():
    from dcbench.detectors.distill import pkd_level

    teacher = torch.randn(1, 4, 8, 8)
    assert float(pkd_level(torch.randn(1, 4, 4, 4), teacher)) > 0
    with pytest.raises(ConfigError, match="same shape"):
        pkd_level(torch.randn(1, 3, 8, 8), teacher)


def _distilled(out, detector: str, epochs: int) -> dict:
    extra = ("--labels", "distill", "--epochs", str(epochs))
    assert main(smoke_run(out, detector=detector, dataset=SMALL, ratio="0.25", extra=extra)) == 0
    (result,) = out.rglob("result.json")
    return json.loads(result.read_text())


@pytest.mark.parametrize("detector", ["yolo11n", "torchvision"])
@pytest.mark.slow
def test_a_distilled_student_at_smoke_records_a_distillation_term_that_falls(detector, tmp_path):
    if detector == "yolo11n":
        pytest.importorskip("ultralytics")
    record = _distilled(tmp_path / "runs", detector, epochs=4)
    assert "labels=distill" in record["cell"]
    assert record["labels"]["mode"] == "distill" and record["labels"]["boxes"] == "stored"
    assert record["teacher"] is not None and record["teacher"]["key"] == record["labels"]["teacher"]
    assert "fetch_s" in record["timings"]  # the teacher's cost is the cell's, as for teacher labels
    term = record["student"]["distill"]["per_epoch"]
    assert len(term) == 4 and all(v > 0 for v in term)
    assert term[-1] < term[0], term


def test_a_backend_that_cannot_distil_refuses_in_one_line_before_anything_is_trained(tmp_path, capsys):
    out = tmp_path / "runs"
    args = smoke_run(out, dataset=SMALL, extra=("--labels", "distill", "--eval-detector", "detectron2"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not train distilled students" in err and "Traceback" not in err
    assert not list(out.rglob("result.json"))


@pytest.mark.parametrize(
    ("student", "teacher", "problem"),
    [
        ("ultralytics:yolov8s.yaml", "yolo11n", "differ in the channels of their distilled levels"),
        ("torchvision", "yolo11n", "a torchvision student distils from a torchvision teacher"),
        ("yolo11n", "torchvision", "an Ultralytics student distils from an Ultralytics teacher"),
        ("torchvision", "torchvision:fasterrcnn_resnet50_fpn", "has 2 FPN levels and the teacher"),
    ],
)
def test_a_student_that_cannot_distil_from_the_teacher_is_refused_before_the_teacher_trains(
    student, teacher, problem, tmp_path, capsys, monkeypatch
):
    """No adapter is built: a pair of other widths, families or FPN levels is refused in one line by ``prepare``,
    before the teacher (hours at a real scale) is trained, and nothing is written."""
    pytest.importorskip("ultralytics")
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs"
    args = smoke_run(out, dataset=SMALL, detector=teacher, extra=("--labels", "distill", "--eval-detector", student))
    assert main(args) == 2
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert problem in error and "Traceback" not in err, err
    assert not list(out.rglob("result.json")) and not list((tmp_path / "cache").rglob("teacher.json"))


def test_students_of_the_teachers_own_shape_may_distil():
    pytest.importorskip("ultralytics")
    from dcbench.harness.identity import make_detector
    from dcbench.harness.labels import check_distillation

    for student, teacher in [
        ("ultralytics:yolo11n.yaml", "yolo11n"),
        ("ultralytics:yolov8n.yaml", "yolo11n"),  # another architecture, the same neck widths (64, 128, 256)
        ("torchvision:fasterrcnn_resnet50_fpn_v2", "torchvision:fasterrcnn_resnet50_fpn"),
    ]:
        check_distillation(make_detector(student), make_detector(teacher))


def test_the_full_data_row_refuses_distillation(tmp_path, capsys):
    assert main(smoke_run(tmp_path / "runs", method="full", ratio="1", extra=("--labels", "distill"))) == 2
    assert "labels='distill' does not apply" in capsys.readouterr().err
