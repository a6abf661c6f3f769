"""Label modes for the student (``labels = stored | teacher``): cells named as before in the default mode, a cell
with teacher labels training on the teacher's boxes (through a fake backend, so its boxes are known), the relabelled
copy cached by what determines it, one-line errors in a spec and on the command line, and leaderboards comparing a
teacher-labelled row with Random on teacher labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dcbench.api import Checkpoint
from dcbench.cli.app import main
from dcbench.condensed import load_condensed
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections
from dcbench.harness.identity import CellConfig
from dcbench.harness.matrix import load_spec
from dcbench.plugins import hookimpl, manager
from dcbench.protocols import get_protocol
from dcbench.results import DEFAULT_LABEL_SCORE
from tests.test_leaderboard import fake_result

TINY = "shapes:?n_train=20&n_test=4&size=64&max_extent=28"


# -- names ---------------------------------------------------------------------------------------------------------
def test_stored_labels_keep_todays_names():
    """The committed results (leaderboards/results/shapes-quick) were named before label modes: a cell in the
    default mode must keep that name, or they would all be pending again."""
    quick = get_protocol("quick")
    random = CellConfig("random", "yolo11n", 0.01, 0, quick, dataset="shapes", dataset_id="shapes")
    dcod = CellConfig("dcod", "yolo11n", 0.01, 3, quick, dataset="shapes", dataset_id="shapes")
    ablation = CellConfig("dcod", "yolo11n", 0.01, 1, quick, method_options={"fbd": False, "ipe": False})
    assert random.cell_name() == "shapes__random__yolo11n__r0.01__s0__quick"
    assert random.condense_name() == "shapes__random__r0.01__s0"
    assert dcod.cell_name() == dcod.condense_name() == "shapes__dcod__yolo11n__r0.01__s3__quick"
    assert ablation.cell_name() == "shapes__dcod__yolo11n__fbd=False+ipe=False__r0.01__s1__quick"
    assert not random.uses_teacher() and dcod.uses_teacher()
    assert random.as_dict()["labels"] == "stored"


def test_teacher_labels_name_the_cell_not_the_condensed_set():
    quick = get_protocol("quick")
    stored = CellConfig("random", "yolo11n", 0.01, 0, quick)
    teacher = CellConfig("random", "yolo11n", 0.01, 0, quick, labels="teacher")
    strict = CellConfig("dcod", "yolo11n", 0.01, 0, quick, labels="teacher", label_score=0.3)
    assert teacher.cell_name() == "shapes__random__yolo11n__labels=teacher__r0.01__s0__quick"
    assert strict.cell_name() == "shapes__dcod__yolo11n__labels=teacher+label_score=0.3__r0.01__s0__quick"
    # both modes train on one condensed set: the relabelled copy is made from it
    assert teacher.condense_name() == stored.condense_name() == "shapes__random__r0.01__s0"
    assert strict.condense_name() == "shapes__dcod__yolo11n__r0.01__s0__quick"
    # Random with teacher labels needs the condensing detector's teacher; its set still does not
    assert teacher.uses_teacher() and not teacher.method_uses_teacher()
    assert teacher.as_dict()["labels"] == "teacher" and teacher.as_dict()["label_score"] == DEFAULT_LABEL_SCORE


@pytest.mark.parametrize(
    "labels, score, problem",
    [("teachr", 0.25, "labels 'teachr' is not a label mode"), ("teacher", 1.5, "label_score 1.5 is not")],
)
def test_bad_label_settings_are_config_errors(labels, score, problem):
    with pytest.raises(ConfigError, match=problem):
        CellConfig("random", "yolo11n", 0.01, 0, get_protocol("smoke"), labels=labels, label_score=score)


def test_the_full_data_row_refuses_teacher_labels():
    cell = CellConfig("full", "yolo11n", 1.0, 0, get_protocol("smoke"), labels="teacher")
    with pytest.raises(ConfigError, match="trains the teacher itself"):
        cell.check_labels()


# -- a matrix spec -------------------------------------------------------------------------------------------------
SPEC = f"""
name = "modes"
protocol = "smoke"
datasets = ["{TINY}"]
detectors = ["yolov3-tiny"]
ratios = [0.1]
seeds = [0, 1]
full_data = true

[[methods]]
name = "random"

[[methods]]
name = "random"
labels = "teacher"

[[methods]]
name = "dcod"
labels = "teacher"
label_score = 0.5
"""


def test_spec_rows_choose_their_labels(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    cells = load_spec(path).cells()
    assert len(cells) == 2 * 4
    assert len({c.cell_name() for c in cells}) == len(cells)
    assert sorted((c.method, c.labels, c.label_score) for c in cells if c.seed == 0) == [
        ("dcod", "teacher", 0.5),
        ("full", "stored", DEFAULT_LABEL_SCORE),
        ("random", "stored", DEFAULT_LABEL_SCORE),
        ("random", "teacher", DEFAULT_LABEL_SCORE),
    ]
    # a spec-level default applies to every method row, never to the full-data row (it trains the teacher)
    path.write_text('labels = "teacher"\n' + SPEC)
    cells = load_spec(path).cells()
    assert {c.labels for c in cells if c.method != "full"} == {"teacher"}
    assert {c.labels for c in cells if c.method == "full"} == {"stored"}


@pytest.mark.parametrize(
    "replace, problem",
    [
        (('labels = "teacher"\n', 'labels = "teachr"\n'), "method 'random': labels 'teachr' is not a label mode"),
        (("label_score = 0.5", "label_score = 2"), "method 'dcod': label_score 2 is not a detection score"),
        (('name = "random"\n\n', 'name = "random"\nlabel_score = 0.3\n\n'), "label_score applies only with"),
        (('name = "dcod"\nlabels', 'name = "full"\nlabels'), "trains the teacher itself"),
        (('name = "dcod"\n', 'name = "dcod"\nlabel = "x"\n'), "method entry"),
    ],
)
def test_bad_label_settings_in_a_spec_are_one_line_naming_it(tmp_path, capsys, replace, problem):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.replace(*replace, 1))
    assert main(["matrix", str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {path}") and problem in err, err
    assert not (tmp_path / "out").exists()


# -- dcbench run ---------------------------------------------------------------------------------------------------
def _run(out: Path, *extra: str, method: str = "random", ratio: str = "0.25", detector: str = "fakedet") -> list:
    return [
        "run",
        *("--method", method, "--ratio", ratio, "--detector", detector, "--protocol", "smoke"),
        *("--dataset", TINY, "--out", str(out), "--device", "cpu", *extra),
    ]


@pytest.mark.parametrize(
    "method, extra, problem",
    [
        (
            "random",
            ("--labels", "teachr"),
            "labels 'teachr' is not a label mode (use one of: stored, teacher, distill)",
        ),
        ("random", ("--label-score", "0.3"), "--label-score applies only with --labels teacher"),
        ("random", ("--labels", "teacher", "--label-score", "-1"), "label_score -1.0 is not a detection score"),
        ("full", ("--labels", "teacher"), "trains the teacher itself"),
        # a method option of the same name (OD3's) once reached the method as --labels: say where it goes now
        ("od3", ("--labels", "observer"), "for the od3 method's own labels option use -O labels=observer"),
    ],
)
def test_bad_label_settings_on_the_command_line_are_one_line(tmp_path, capsys, method, extra, problem):
    if method == "od3":
        pytest.importorskip("dcbench_od3")
    out = tmp_path / "runs"
    argv = _run(out, *extra, method=method, ratio="1" if method == "full" else "0.25", detector="yolov3-tiny")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and problem in err, err
    assert not out.exists()


SCORES = np.array([0.9, 0.5, 0.1, 0.8], dtype=np.float32)


def _fake_detections(width: int, height: int) -> Detections:
    """Four boxes per image: kept (0.9), kept and clipped (0.5, runs past the right edge), under the default score
    (0.1), and kept by its score but under a pixel wide (0.8: left out)."""
    boxes = [
        [1, 1, width / 2, height / 2],
        [width / 4, height / 4, width + 5, height - 1],
        [0, 0, 3, 3],
        [2, 2, 2.5, 9],
    ]
    return Detections(np.array(boxes), SCORES, np.array([0, 1, 0, 1]))


def _expected_teacher_boxes(width: int, height: int, score: float) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array([[1, 1, width / 2, height / 2], [width / 4, height / 4, width, height - 1]], dtype=np.float32)
    labels = np.array([0, 1])
    keep = SCORES[:2] >= score
    return boxes[keep], labels[keep]


class FakeDetector:
    """A detector whose predictions are known, and whose 'training' writes down the boxes it was given."""

    name = "fakedet"

    def train(self, dataset, *, protocol, seed, workdir, device, reporter=None):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        trained = {im.id: im.boxes.tolist() for im in dataset.images}
        (workdir / "weights.json").write_text(json.dumps(trained))
        return Checkpoint(self.name, workdir / "weights.json", {"trained_boxes": dataset.n_boxes, "epochs": 1})

    def predict(self, checkpoint, dataset, *, protocol, device, reporter=None):
        return [_fake_detections(im.width, im.height) for im in dataset.images]

    def features(self, checkpoint, dataset, *, protocol, device, reporter=None):
        return np.zeros((len(dataset), 4), dtype=np.float32)

    def inversion_target(self, checkpoint, *, protocol, device):
        raise NotImplementedError


class FakePlugin:
    @hookimpl
    def dcbench_register_detectors(self, registry):
        registry.add("fakedet", FakeDetector, "predictions known in advance")


@pytest.fixture
def fake_detector():
    with manager.registered(FakePlugin()):
        yield


def _result(out: Path, cell: str) -> tuple[Path, dict]:
    """The one cell under ``out`` whose name ends with ``cell`` (after the dataset's part)."""
    (found,) = [d for d in out.iterdir() if d.name.endswith("__" + cell)]
    return found, json.loads((found / "result.json").read_text())


def test_teacher_labels_train_the_student_on_the_teachers_boxes(tmp_path, fake_detector):
    out = tmp_path / "runs"
    assert main(_run(out, "--labels", "teacher")) == 0
    cell_dir, result = _result(out, "random__fakedet__labels=teacher__r0.25__s0__smoke")
    assert result["config"]["labels"] == "teacher" and result["config"]["label_score"] == DEFAULT_LABEL_SCORE
    relabelled = load_condensed(cell_dir / result["condensed"]["path"])
    stored = load_condensed(cell_dir / result["condensed"]["stored"]["path"])
    assert len(relabelled) == len(stored) == result["budget"] == 5
    for new, old in zip(relabelled.dataset.images, stored.dataset.images):
        boxes, labels = _expected_teacher_boxes(old.width, old.height, DEFAULT_LABEL_SCORE)
        # the same image, the teacher's boxes above the score, clipped, none under a pixel
        assert new.id == old.id and new.file.read_bytes() == old.file.read_bytes()
        np.testing.assert_allclose(new.boxes, boxes, atol=1e-3)
        assert new.labels.tolist() == labels.tolist() and not new.ignore.any()
    labels_record = result["labels"]
    assert labels_record["teacher_boxes"] == relabelled.dataset.n_boxes == 2 * 5 == result["condensed"]["boxes"]
    assert labels_record["stored_boxes"] == stored.dataset.n_boxes == result["condensed"]["stored"]["boxes"]
    assert labels_record["mode"] == "teacher" and labels_record["reused"] is False
    assert result["teacher"]["source"] == "trained"  # Random with teacher labels fetched the condensing teacher
    # the student trained on exactly the relabelled boxes
    trained = json.loads((cell_dir / result["student"]["checkpoint"]).read_text())
    assert result["student"]["trained_boxes"] == relabelled.dataset.n_boxes
    assert trained == {im.id: im.boxes.tolist() for im in relabelled.dataset.images}
    # the copy sits beside the stored set, named by what determines it
    copy_dir = relabelled.path.parent
    assert copy_dir.parent == stored.path.parent.parent and (copy_dir / "condense.json").is_file()
    assert copy_dir.name.startswith(stored.path.parent.name + "__labels=teacher+label_score=0.25__teacher-")
    assert relabelled.manifest["labels"]["teacher_boxes"] == 10


@pytest.mark.slow
def test_the_relabelled_copy_is_reused_and_follows_the_score(tmp_path, fake_detector):
    out = tmp_path / "runs"
    assert main(_run(out, "--labels", "teacher")) == 0
    assert main(_run(out, "--labels", "teacher", "--force")) == 0
    cell = "random__fakedet__labels=teacher__r0.25__s0__smoke"
    _, again = _result(out, cell)
    assert again["labels"]["reused"] is True and "relabel_s" not in again["timings"]
    # a copy made from another stored set (its content fingerprint differs) is made again
    record_file = next((out / "condensed").glob("*__labels=teacher*/condense.json"))
    record = json.loads(record_file.read_text())
    record["labels"]["source_fingerprint"] = "0" * 16
    record_file.write_text(json.dumps(record))
    assert main(_run(out, "--labels", "teacher", "--force")) == 0
    assert _result(out, cell)[1]["labels"]["reused"] is False
    # another score is another copy, and another cell; the stored cell shares the stored set
    assert main(_run(out, "--labels", "teacher", "--label-score", "0.6")) == 0
    strict_dir, strict = _result(out, cell.replace("labels=teacher", "labels=teacher+label_score=0.6"))
    assert strict["labels"]["teacher_boxes"] == 5 and strict["labels"]["score"] == 0.6
    assert main(_run(out)) == 0
    _, stored = _result(out, cell.replace("__labels=teacher", ""))
    assert "labels" not in stored and stored["config"]["labels"] == "stored" and stored["teacher"] is None
    assert stored["condensed"]["key"] == strict["condensed"]["stored"]["key"] == again["condensed"]["stored"]["key"]
    assert len(list((out / "condensed").iterdir())) == 3  # the stored set and two relabelled copies
    # a teacher with no box above the score leaves the student background alone: legal, and said in the result
    assert main(_run(out, "--labels", "teacher", "--label-score", "0.95")) == 0
    _, empty = _result(out, cell.replace("labels=teacher", "labels=teacher+label_score=0.95"))
    assert empty["labels"]["teacher_boxes"] == 0 and "the teacher found no box" in " ".join(empty["warnings"])


# -- leaderboards --------------------------------------------------------------------------------------------------
def _teacher_result(
    root: Path, method: str, seed: int, map_: float, score: float = DEFAULT_LABEL_SCORE, eval_detector=None
) -> None:
    """A result of a cell with teacher labels, as run_cell writes it (the fields a leaderboard reads): the teacher
    that labelled it is recorded, for Random too."""
    staging = root.parent / "staging"
    fake_result(
        staging, method, 0.01, seed, map_, teacher={"source": "cached", "key": "k"}, eval_detector=eval_detector
    )
    (f,) = staging.rglob("result.json")
    r = json.loads(f.read_text())
    r["cell"] += "__labels=teacher"
    r["config"].update(labels="teacher", label_score=score)
    target = root / (f.parent.name + "__labels=teacher")
    target.mkdir(parents=True)
    (target / "result.json").write_text(json.dumps(r))
    f.unlink()
    f.parent.rmdir()


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Random and DCOD in both modes over three seeds: DCOD beats Random by 2, 2, 2 on stored labels and by
    0.5, 1.0, 1.5 on teacher labels; Random itself gains 5 from teacher labels."""
    root = tmp_path / "results"
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 10.0 + seed)
        fake_result(root, "dcod", 0.01, seed, 12.0 + seed, teacher={"source": "cached"})
        _teacher_result(root, "random", seed, 15.0 + seed)
        _teacher_result(root, "dcod", seed, 15.5 + 1.5 * seed)
        fake_result(root, "full", 1.0, seed, 50.0, full=True)
    return root


def test_leaderboard_pairs_teacher_rows_with_random_on_teacher_labels(mixed):
    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.tables import summarise, to_csv, to_markdown

    (table,) = summarise(load_results(mixed))
    s = table.summary.set_index("label")
    assert list(s.index) == ["random", "dcod", "random [teacher labels]", "dcod [teacher labels]", "full train set"]
    assert s.loc["dcod", "delta_mAP_vs_random"] == pytest.approx(2.0)
    assert s.loc["dcod", "vs_random_n"] == 3
    # against Random on teacher labels (15, 16, 17), not Random on stored ones (10, 11, 12)
    assert s.loc["dcod [teacher labels]", "delta_mAP_vs_random"] == pytest.approx(1.0)
    assert s.loc["dcod [teacher labels]", "vs_random_mean"] == pytest.approx(1.0)
    assert s.loc["dcod [teacher labels]", "vs_random_n"] == 3
    assert s.loc["random [teacher labels]", "delta_mAP_vs_random"] == 0  # its own reference
    md = to_markdown(table)
    assert md.count("(reference)") == 2 and "| random [teacher labels] |" in md
    assert "their ΔmAP is against Random trained on teacher labels" in md
    assert ",labels," not in to_csv(table).splitlines()[0]  # the label says it; the CSV's columns stay as they were


def test_a_teacher_row_without_its_random_gets_no_difference(mixed):
    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.tables import summarise

    for f in mixed.glob("*random*labels=teacher/result.json"):
        f.unlink()
    (table,) = summarise(load_results(mixed))
    row = table.summary.set_index("label").loc["dcod [teacher labels]"]
    assert row["delta_mAP_vs_random"] is None or np.isnan(row["delta_mAP_vs_random"])
    assert row["vs_random_kind"] is None or not isinstance(row["vs_random_kind"], str)


def test_a_score_other_than_the_default_is_its_own_row(tmp_path):
    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.html_site import label_mode

    root = tmp_path / "results"
    _teacher_result(root, "random", 0, 15.0, score=0.5)
    frame = load_results(root)
    assert frame["label"].tolist() == ["random [teacher labels, score >= 0.5]"]
    assert label_mode(json.loads(next(root.rglob("result.json")).read_text())) == "teacher"


def test_cross_architecture_teacher_rows_pair_with_random_labelled_by_the_same_teacher(tmp_path):
    """Evaluated with another detector, Random on stored labels is the table's own row (a teacher-free set), while
    Random on teacher labels was labelled by the condensing detector's teacher, as the DCOD row beside it."""
    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.tables import summarise

    root = tmp_path / "results"
    for seed in range(3):
        fake_result(root, "random", 0.01, seed, 10.0 + seed, eval_detector="faster-rcnn")
        fake_result(root, "dcod", 0.01, seed, 11.0 + seed, eval_detector="faster-rcnn", teacher={"source": "cached"})
        _teacher_result(root, "random", seed, 20.0 + seed, eval_detector="faster-rcnn")
        _teacher_result(root, "dcod", seed, 23.0 + seed, eval_detector="faster-rcnn")
    (table,) = summarise(load_results(root))
    s = table.summary.set_index("label")
    assert s.loc["dcod [condensed with yolov3-tiny]", "delta_mAP_vs_random"] == pytest.approx(1.0)
    teacher_dcod = "dcod [teacher labels] [condensed with yolov3-tiny]"
    assert s.loc[teacher_dcod, "delta_mAP_vs_random"] == pytest.approx(3.0) and s.loc[teacher_dcod, "vs_random_n"] == 3
    assert s.loc["random [teacher labels] [condensed with yolov3-tiny]", "delta_mAP_vs_random"] == 0


@pytest.mark.slow
def test_teacher_labels_with_a_real_detector(tmp_path):
    """The Ultralytics backend's teacher relabels Random's images (score 0: every box its predict returns)."""
    pytest.importorskip("ultralytics")
    out = tmp_path / "runs"
    assert main(_run(out, "--labels", "teacher", "--label-score", "0", ratio="0.1", detector="yolov3-tiny")) == 0
    cell_dir, result = _result(out, "random__yolov3-tiny__labels=teacher+label_score=0__r0.1__s0__smoke")
    relabelled = load_condensed(cell_dir / result["condensed"]["path"])
    assert result["labels"]["teacher_boxes"] == relabelled.dataset.n_boxes == result["condensed"]["boxes"] > 0
    assert result["labels"]["stored_boxes"] == result["condensed"]["stored"]["boxes"]
    assert result["teacher"]["detector"] == "ultralytics:yolov3-tiny.yaml" and result["student"]["images"] == 2
