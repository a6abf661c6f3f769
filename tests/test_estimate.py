"""The dry-run's time estimate: step counts from the protocol, seconds per step from measurements, by hand."""

import json
import math

import pytest

from dcbench.harness.estimate import (
    DISTILL_FACTOR,
    FORGE_FACTOR,
    MEASURED,
    estimate,
    measured_in,
    step_seconds,
    teachers_measured_in,
)
from dcbench.harness.identity import CellConfig
from dcbench.protocols import get_protocol

DATA = "shapes:?n_train=40&n_test=8&size=64&max_extent=28"


def _cells(protocol):
    kw = dict(detector="yolov3-tiny", seed=0, protocol=protocol, dataset=DATA)
    return [
        CellConfig("full", ratio=1.0, **kw),
        CellConfig("random", ratio=0.05, **kw),
        CellConfig("dcod", ratio=0.05, **kw),
    ]


def test_estimate_by_hand(tmp_path):
    smoke = get_protocol("smoke")  # 64 px, batch 8, 1 epoch at least 1 step; forge 4 iterations of 4 images
    per_step = MEASURED[("ultralytics:yolov3-tiny.yaml", 128)] * (64 / 128) ** 2 * 8 / 16
    assert step_seconds("ultralytics:yolov3-tiny.yaml", 64, 8, MEASURED) == pytest.approx(per_step)
    cells = _cells(smoke)
    est = estimate(cells, {c.cell_name(): "pending" for c in cells}, {DATA: 40}, tmp_path)
    assert est.teacher_s == pytest.approx(5 * per_step)  # one teacher: 40 images = 5 steps, shared by dcod
    student_step = per_step * 2 / 8  # a 2-image set trains at batch 2
    assert est.student_s == pytest.approx(2 * 1 * student_step)  # random and dcod: 2 images, one step each
    assert est.condense_s == pytest.approx(4 * FORGE_FACTOR * per_step * 2 / 8)  # dcod's forge only
    # a finished cell that used the teacher: the teacher is cached
    done = {c.cell_name(): "done" if c.method == "full" else "pending" for c in cells}
    assert estimate(cells, done, {DATA: 40}, tmp_path).teacher_s == 0
    unknown = CellConfig("random", "ultralytics:yolo-nobody.yaml", 0.05, 0, smoke, DATA)
    text = estimate([unknown], {unknown.cell_name(): "pending"}, {DATA: 40}, tmp_path).text()
    assert "no measured cost for ultralytics:yolo-nobody.yaml" in text


def test_a_teacher_the_cache_holds_is_not_counted(tmp_path, monkeypatch):
    # an ablation spec shares its teachers with the main spec; none of its own cells has used them yet
    from dcbench.cache import cache_dir
    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.harness.identity import make_detector
    from dcbench.harness.teacher import teacher_key

    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    smoke = get_protocol("smoke")
    split = resolve_train_test(load_dataset(DATA), None)
    fingerprints = {(DATA, None): (split.train.fingerprint(), split.test.fingerprint())}
    cells = _cells(smoke)[1:]  # random and dcod; dcod needs the seed-0 teacher
    pending = {c.cell_name(): "pending" for c in cells}
    sizes = {DATA: len(split.train)}
    assert estimate(cells, pending, sizes, tmp_path, fingerprints).teacher_s > 0
    root = cache_dir("teachers") / teacher_key(split.train, make_detector("yolov3-tiny"), smoke, 0)
    root.mkdir(parents=True)
    (root / "teacher.json").write_text("{}")  # what fetch_teacher writes last
    cached = estimate(cells, pending, sizes, tmp_path, fingerprints)
    assert cached.teacher_s == 0 and "(no teacher to train," in cached.text()
    assert estimate(cells, pending, sizes, tmp_path).teacher_s > 0  # without fingerprints it cannot tell


def test_a_finished_cells_teacher_missing_from_this_machines_cache_is_counted(tmp_path, monkeypatch):
    # a fresh machine continuing a spec: the full cell is done, but its teacher was cached elsewhere
    from dcbench.data.spec import load_dataset, resolve_train_test

    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    split = resolve_train_test(load_dataset(DATA), None)
    fingerprints = {(DATA, None): (split.train.fingerprint(), split.test.fingerprint())}
    cells = _cells(get_protocol("smoke"))
    done = {c.cell_name(): "done" if c.method == "full" else "pending" for c in cells}
    est = estimate(cells, done, {DATA: len(split.train)}, tmp_path, fingerprints)
    assert est.teacher_s > 0 and est.teachers == 1
    assert "for 1," in est.text()


def test_seconds_per_step_learned_from_finished_results(tmp_path):
    cell = tmp_path / "c"
    cell.mkdir()
    (cell / "result.json").write_text(
        json.dumps(
            {
                "config": {"protocol": {"batch": 8, "imgsz": 96}},
                "eval_detector": "ultralytics:x.yaml",
                "student": {"epochs": 10, "images": 20},
                "timings": {"train_s": 60.0},
            }
        )
    )
    # 10 epochs x 3 steps = 30 steps of 8 images in 60 s: 2 s per step, 4 s per 16 images
    assert measured_in(tmp_path) == {("ultralytics:x.yaml", 96): pytest.approx(4.0)}


def test_a_distilled_student_costs_its_teachers_forward_too(tmp_path):
    """A distilled student's step runs the frozen teacher as well: the estimate counts it, and a distilled result
    in the folder tells the plain step it was measured on, not a dearer one."""
    smoke = get_protocol("smoke")
    plain, distilled = (
        CellConfig("random", "yolov3-tiny", 0.05, 0, smoke, DATA, labels=m) for m in ("stored", "distill")
    )
    states = {c.cell_name(): "pending" for c in (plain, distilled)}
    base = estimate([plain], states, {DATA: 40}, tmp_path).student_s
    assert base > 0
    assert estimate([distilled], states, {DATA: 40}, tmp_path).student_s == pytest.approx(DISTILL_FACTOR * base)
    cell = tmp_path / "c"
    cell.mkdir()
    record = {
        "config": {"protocol": {"batch": 8, "imgsz": 96}, "labels": "distill"},
        "eval_detector": "ultralytics:x.yaml",
        "student": {"epochs": 10, "images": 20},  # 30 steps of 8 in 60 s: 4 s per 16 images, distilled
        "timings": {"train_s": 60.0},
    }
    (cell / "result.json").write_text(json.dumps(record))
    assert measured_in(tmp_path) == {("ultralytics:x.yaml", 96): pytest.approx(4.0 / DISTILL_FACTOR)}


def test_a_teachers_seconds_per_step_come_from_the_teachers_results_trained(tmp_path):
    def result(name, teacher):
        (tmp_path / name).mkdir()
        record = {
            "config": {"protocol": {"batch": 16, "imgsz": 160}},
            "eval_detector": "ultralytics:x.yaml",
            "student": {"epochs": 10, "images": 32},  # 20 steps in 10 s: 0.5 s per step
            "timings": {"train_s": 10.0},
            "teacher": teacher,
        }
        (tmp_path / name / "result.json").write_text(json.dumps(record))

    trained = {
        "source": "trained",
        "detector": "ultralytics:x.yaml",
        "protocol": {"batch": 16, "imgsz": 160},
        "checkpoint_meta": {"epochs": 2, "images": 160},
        "train_s": 40.0,  # 2 epochs x 10 steps in 40 s: 2 s per step
    }
    result("a", trained)
    result("b", {**trained, "source": "cached", "train_s": 400.0})  # the same teacher, read back: not counted twice
    assert teachers_measured_in(tmp_path) == {("ultralytics:x.yaml", 160): pytest.approx(2.0)}
    # a pending cell whose seed's teacher is not trained yet: its steps at the teacher's 2 s, not the student's 0.5 s
    data = "shapes:?n_train=160&n_test=8&size=160"
    smoke = get_protocol("smoke").with_overrides(imgsz=160)
    cell = CellConfig("dcod", "ultralytics:x.yaml", 0.1, 1, smoke, data)
    est = estimate([cell], {cell.cell_name(): "pending"}, {data: 160}, tmp_path)
    steps = smoke.epochs_for(160) * math.ceil(160 / smoke.batch)
    assert est.teacher_s == pytest.approx(steps * 2.0 * smoke.batch / 16)


def test_this_machines_own_measurements_are_preferred(tmp_path):
    for name, model, train_s in [("a", "Slow CPU", 60.0), ("b", "Slow CPU", 80.0), ("c", "Fast GPU", 6.0)]:
        (tmp_path / name).mkdir()
        record = {
            "config": {"protocol": {"batch": 8, "imgsz": 96}},
            "eval_detector": "ultralytics:x.yaml",
            "student": {"epochs": 10, "images": 20},  # 30 steps of 8 images
            "timings": {"train_s": train_s},
            "device": {"name": "cpu", "model": model},
        }
        (tmp_path / name / "result.json").write_text(json.dumps(record))
    key = ("ultralytics:x.yaml", 96)
    assert measured_in(tmp_path, "Slow CPU")[key] == pytest.approx(80.0 / 30 * 2)  # the median of its two
    assert measured_in(tmp_path, "Fast GPU")[key] == pytest.approx(6.0 / 30 * 2)
    # a machine none of them ran on, or none named: all three
    assert measured_in(tmp_path, "Other")[key] == measured_in(tmp_path)[key] == pytest.approx(60.0 / 30 * 2)


# -- --gpu: the same step counts, seconds per step from counted FLOPs ------------------------------------------
GPU_SPEC = f"""
name = "gpu"
protocol = "paper"
datasets = ["{DATA}"]
detectors = ["yolov3-tiny"]
ratios = [0.05]
seeds = [0]
full_data = true

[protocol_overrides]
min_iterations = 100000  # long enough that a GPU's hours show in one decimal

[[methods]]
name = "dcod"
"""


def _gpu_hours(tmp_path, capsys, gpu: str) -> float:
    import re

    from dcbench.cli.app import main

    spec = tmp_path / "spec.toml"
    spec.write_text(GPU_SPEC)
    assert main(["matrix", str(spec), "--out", str(tmp_path / "out"), "--dry-run", "--gpu", gpu]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # rich may wrap the line
    assert "a model, not a measurement" in printed
    found = re.search(r"modelled ([0-9.]+) GPU-hours on one (\w+) \(teachers ([0-9.]+) h for 1,", printed)
    assert found and found[2] == gpu.upper(), printed
    return float(found[1])


def test_dry_run_models_gpu_hours_for_a_named_gpu(tmp_path, capsys):
    h100, v100 = _gpu_hours(tmp_path, capsys, "h100"), _gpu_hours(tmp_path, capsys, "V100")
    assert 0 < h100 < v100


@pytest.mark.parametrize(
    "extra, problem",
    [
        (["--dry-run", "--gpu", "B200"], "unknown GPU 'B200' (known: V100, A100, H100"),
        (["--gpu", "H100"], "--gpu models the time of a --dry-run"),
    ],
)
def test_a_bad_gpu_option_is_one_line(tmp_path, capsys, extra, problem):
    from dcbench.cli.app import main

    spec = tmp_path / "spec.toml"
    spec.write_text(GPU_SPEC)
    assert main(["matrix", str(spec), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_flop_costs_by_hand(tmp_path):
    from dcbench.harness.gpu_cost import EFFICIENCY, FlopCosts, get_gpu

    class Counted:  # a backend that counts its steps: 2 GFLOP a forge step, 3 a training step, per image
        name = "counted"

        def step_flops(self, imgsz, classes):
            return 2e9 * (imgsz / 64) ** 2, 3e9 * (imgsz / 64) ** 2

    class Uncounted:
        name = "uncounted"

    h100 = get_gpu("H100")
    costs = FlopCosts(h100)
    assert costs.train(Counted(), 128, 16, 20) == pytest.approx(16 * 12e9 / (h100.train_tflops * 1e12 * EFFICIENCY))
    assert costs.forge(Counted(), 64, 4, 20) == pytest.approx(4 * 2e9 / (h100.forge_tflops * 1e12 * EFFICIENCY))
    assert costs.train(Uncounted(), 128, 16, 20) is None
    cell = CellConfig("random", "yolov3-tiny", 0.05, 0, get_protocol("smoke"), DATA)
    est = estimate([cell], {cell.cell_name(): "pending"}, {DATA: 40}, tmp_path, costs=costs)
    assert est.gpu == "H100" and "a model, not a measurement" in est.text() and est.student_s > 0
