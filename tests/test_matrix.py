"""The matrix harness: spec checking, cell expansion and shared work, failure records, and a run that is killed
mid-way and resumed giving the same tables as an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dcbench.cli.app import main
from dcbench.errors import ConfigError
from dcbench.harness.matrix import load_spec
from tests.conftest import smoke_run

TINY = "shapes:?n_train=40&n_test=12&size=64&min_extent=8&max_extent=30"

SMOKE_SPEC = f"""
name = "smoke"
protocol = "smoke"
datasets = ["{TINY}"]
detectors = ["yolov3-tiny", "ultralytics:yolov8n.yaml"]
ratios = [0.1, 0.2]
seeds = [0]
full_data = true

[[methods]]
name = "random"

[[methods]]
name = "herding"
"""


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the spec ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, problem",
    [
        ("name = 'x'\nratios = [", "not valid TOML"),
        ("colour = 'red'\n" + SMOKE_SPEC, "unknown key(s) colour"),
        (SMOKE_SPEC.replace("[0.1, 0.2]", "[10]"), "ratio 10 is not a fraction"),
        (SMOKE_SPEC.replace('name = "herding"', 'name = "herdin"'), "herdin"),
        (SMOKE_SPEC.replace('name = "herding"', 'name = "dcod"\noptions = { fbd_alpha = 7 }'), "fbd_alpha"),
        (SMOKE_SPEC.replace('"yolov3-tiny", ', '"yolov9000", '), "yolov9000"),
        (SMOKE_SPEC.replace("seeds = [0]", "seeds = []"), "'seeds' must be a non-empty list"),
        (SMOKE_SPEC.replace("size=64&min_extent=8&max_extent=30", "size=64&max_extent=40"), "invalid shapes extents"),
    ],
)
def test_bad_specs_are_one_error_naming_the_file(tmp_path, text, problem):
    path = write_spec(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    assert str(err.value).startswith(str(path)) and problem in str(err.value)


def test_bad_spec_on_the_command_line_exits_2_with_one_line(tmp_path, capsys):
    path = write_spec(tmp_path, "colour = 1\n" + SMOKE_SPEC)
    assert main(["matrix", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "colour" in err and str(path) in err
    assert not (tmp_path / "out").exists()


def test_cells_share_full_data_rows_teachers_and_teacher_free_condensed_sets(tmp_path):
    spec = load_spec(write_spec(tmp_path, SMOKE_SPEC))
    cells = spec.cells()
    # 2 detectors x 2 methods x 2 ratios, plus one full-data row per evaluation detector
    assert len(cells) == 8 + 2
    assert cells[0].method == "full" and cells[1].method == "full"  # they train the teachers the others reuse
    condensed = {c.condense_name() for c in cells if c.method != "full"}
    # Random's set does not depend on the detector (shared); Herding's does (the teacher's features)
    assert len(condensed) == 2 + 4
    assert len({c.cell_name() for c in cells}) == len(cells)


def test_cross_architecture_spec_evaluates_every_condensed_set_with_every_evaluation_detector(tmp_path):
    text = SMOKE_SPEC.replace(
        'detectors = ["yolov3-tiny", "ultralytics:yolov8n.yaml"]',
        'detectors = ["yolov3-tiny"]\neval_detectors = ["yolov3-tiny", "ultralytics:yolov8n.yaml"]',
    )
    cells = load_spec(write_spec(tmp_path, text)).cells()
    evaluated = [c for c in cells if c.method != "full"]
    assert len(evaluated) == 2 * 2 * 2
    assert {c.cell_name() for c in evaluated if c.eval_detector} and all(
        "eval-ultralytics_yolov8n.yaml" in c.cell_name() for c in evaluated if c.eval_detector
    )
    # the two evaluation detectors read the same condensed set
    assert len({c.condense_name() for c in evaluated}) == 4
    assert sorted(c.detector for c in cells if c.method == "full") == ["ultralytics:yolov8n.yaml", "yolov3-tiny"]


# -- running ----------------------------------------------------------------------------------------------------
pytest.importorskip("ultralytics")


def _matrix(spec: Path, out: Path, cache: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "DCBENCH_CACHE": str(cache)}
    return subprocess.Popen(
        [sys.executable, "-m", "dcbench", "matrix", str(spec), "--out", str(out), "--device", "cpu", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _tables(results: Path, out: Path) -> dict[str, str]:
    """The leaderboard files with their compute figures (wall times, which differ between any two runs) left out."""
    import re

    import pandas as pd

    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots"]) == 0
    files = {}
    for p in sorted(out.iterdir()):
        if p.name == ".sources.json":  # names the results folder, which differs by design
            continue
        if p.suffix == ".csv":
            timings = ["condense_s_mean", "student_s_mean", "teacher_s_mean"]
            files[p.name] = pd.read_csv(p).drop(columns=timings).to_csv(index=False)
        else:
            text = re.sub(r"Compute, mean seconds.*?(?=!\[ratio sweep\])", "", p.read_text(), flags=re.S)
            files[p.name] = re.sub(r", from `[^`]*`", "", text)
    return files


def _cells(results: Path) -> dict[str, dict]:
    return {f.parent.name: json.loads(f.read_text()) for f in results.glob("*/result.json")}


@pytest.mark.slow
def test_killed_matrix_resumes_to_the_same_tables(tmp_path):
    spec = write_spec(tmp_path, SMOKE_SPEC)
    cache = tmp_path / "cache"
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    proc = _matrix(spec, reference, cache)
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log
    # one Random set per ratio for both detectors; Herding's sets depend on each detector's teacher
    assert len(list((reference / "condensed").iterdir())) == 2 + 4
    assert len(list((cache / "teachers").iterdir())) == 2  # one per detector, shared by full-data and herding
    reused = sorted(name for name, r in _cells(reference).items() if r["condensed"].get("reused"))
    assert len(reused) == 2 and all("__random__ultralytics" in name for name in reused)

    proc = _matrix(spec, resumed, tmp_path / "cache-2")  # its own cache: the kill may land in a teacher's training
    deadline = time.monotonic() + 600
    while len(list(resumed.glob("*/result.json"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the matrix finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {name: r["finished"] for name, r in _cells(resumed).items()}
    assert 3 <= len(before) < 10

    dry = subprocess.run(
        [sys.executable, "-m", "dcbench", "matrix", str(spec), "--out", str(resumed), "--dry-run"],
        env={**os.environ, "DCBENCH_CACHE": str(tmp_path / "cache-2")},
        capture_output=True,
        text=True,
    )
    assert f"{len(before)} done" in dry.stdout and f"{10 - len(before)} pending" in dry.stdout

    proc = _matrix(spec, resumed, tmp_path / "cache-2")
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log
    assert f"running {10 - len(before)}" in log  # only what was missing
    after = _cells(resumed)
    assert all(after[name]["finished"] == stamp for name, stamp in before.items())  # finished cells untouched
    ref = _cells(reference)
    assert set(after) == set(ref)
    for name in ref:
        assert after[name]["metrics"] == ref[name]["metrics"], name
        assert after[name]["condensed"]["manifest"].get("selected_ids") == ref[name]["condensed"]["manifest"].get(
            "selected_ids"
        )
    assert _tables(resumed, tmp_path / "lb-resumed") == _tables(reference, tmp_path / "lb-reference")


class _Boom:
    name = "boom"
    requires_teacher = False

    def describe(self):
        return {}

    def condense(self, train_set, budget, *, context):
        raise RuntimeError("the plugin broke")


@pytest.mark.slow
def test_results_of_changed_dataset_files_are_stale_and_redone(tmp_path, tiny_voc, capsys):
    spec = write_spec(
        tmp_path,
        f"""
name = "voc"
protocol = "smoke"
datasets = ["voc:{tiny_voc}"]
detectors = ["yolov3-tiny"]
ratios = [0.67]
seeds = [0]
[[methods]]
name = "random"
""",
    )
    out = tmp_path / "out"
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 0
    result_file = next(out.glob("*/result.json"))
    first = json.loads(result_file.read_text())
    xml = tiny_voc / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<xmax>30</xmax>", "<xmax>33</xmax>"))  # a corrected box
    capsys.readouterr()
    assert main(["matrix", str(spec), "--out", str(out), "--dry-run"]) == 0
    assert "1 stale" in capsys.readouterr().out
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 0
    second = json.loads(result_file.read_text())
    assert second["data"]["train_fingerprint"] != first["data"]["train_fingerprint"]
    manifest = json.loads((result_file.parent / second["condensed"]["path"] / "manifest.json").read_text())
    assert manifest["source_fingerprint"] == second["data"]["train_fingerprint"]  # condensed again, not reused


@pytest.mark.parametrize("cores", [1, 4])
def test_dry_run_on_the_cpu_says_what_cells_side_by_side_would_take(tmp_path, capsys, monkeypatch, cores):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    spec = write_spec(tmp_path, SMOKE_SPEC)
    assert main(["matrix", str(spec), "--out", str(tmp_path / "out"), "--dry-run", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "cells to run: estimated" in printed
    assert ("--num-cpus 4 runs that many one-thread cells side by side" in printed) is (cores == 4)


def test_full_data_method_refuses_a_ratio_below_1(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--method",
                "full",
                "--ratio",
                "0.5",
                "--dataset",
                TINY,
                "--protocol",
                "smoke",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "use ratio 1" in capsys.readouterr().err


@pytest.mark.slow
def test_failing_cell_is_recorded_and_the_matrix_goes_on(tmp_path, monkeypatch, capsys):
    from dcbench.plugins import hookimpl, manager

    class Plugin:
        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("boom", _Boom, "always fails")

    with manager.registered(Plugin()):  # as if installed, for every registry the CLI builds
        text = SMOKE_SPEC.replace('name = "herding"', 'name = "boom"').replace(', "ultralytics:yolov8n.yaml"', "")
        text = text.replace("full_data = true", "full_data = false")
        spec = write_spec(tmp_path, text)
        out = tmp_path / "out"
        assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 1
        failed = sorted(out.glob("*/failed.json"))
        assert len(failed) == 2 and len(list(out.glob("*/result.json"))) == 2  # the random cells ran regardless
        record = json.loads(failed[0].read_text())
        assert record["error"] == "RuntimeError: the plugin broke" and "Traceback" in record["traceback"]
        assert not list(failed[0].parent.glob("result.json"))
        assert "2 failed" in capsys.readouterr().err
        # the next run retries only the failed cells
        assert main(["matrix", str(spec), "--out", str(out), "--dry-run"]) == 0
        assert "2 done, 2 failed" in capsys.readouterr().out


def test_results_made_with_other_protocol_values_or_method_defaults_are_stale(tmp_path):
    """A preset or a method default that changes between versions keeps the cell's name: the recorded settings
    tell the old result apart. Options added since (absent from the record) do not."""
    from dcbench.harness.identity import CellConfig
    from dcbench.harness.matrix import cell_state
    from dcbench.harness.staleness import current_settings
    from dcbench.protocols import get_protocol

    cell = CellConfig("dcod", "yolov3-tiny", 0.01, 0, get_protocol("quick"), method_options={"ipe": False})
    now = current_settings(cell)
    assert now["method"]["ipe"] is False and now["method"]["bn_reduction"] == "l2" and "snapshots" not in now["method"]

    def state_with(protocol, options):
        cell_dir = tmp_path / cell.cell_name()
        cell_dir.mkdir(exist_ok=True)
        (cell_dir / "result.json").write_text(
            json.dumps(
                {
                    "status": "ok",
                    "cell": cell.cell_name(),
                    "config": {"protocol": protocol},
                    "metrics": {},
                    "budget": 10,
                    "condensed": {},
                    "method": {"options": options},
                }
            )
        )
        return cell_state(tmp_path, cell)

    assert state_with(now["protocol"], now["method"]) == "done"
    older = {k: v for k, v in now["method"].items() if k != "ipe_fit"}  # an option added later
    assert state_with(now["protocol"], {**older, "snapshots": [5]}) == "done"  # bookkeeping never counts
    assert state_with({**now["protocol"], "min_iterations": 100}, now["method"]) == "stale"
    assert state_with({**now["protocol"], "description": "reworded"}, now["method"]) == "done"
    assert state_with(now["protocol"], {**now["method"], "bn_reduction": "mean"}) == "stale"
    # the forge's protocol fields count for DCOD, which reads them, and for no teacher-free method
    assert state_with({**now["protocol"], "forge_iterations": 1}, now["method"]) == "stale"
    random_cell = CellConfig("random", "yolov3-tiny", 0.01, 0, get_protocol("quick"))
    random_now = current_settings(random_cell)
    (tmp_path / random_cell.cell_name()).mkdir()
    (tmp_path / random_cell.cell_name() / "result.json").write_text(
        json.dumps(
            {
                "status": "ok",
                "cell": random_cell.cell_name(),
                "metrics": {},
                "budget": 10,
                "condensed": {},
                "config": {"protocol": {**random_now["protocol"], "forge_iterations": 1, "forge_batch": 2}},
                "method": {"options": {}},
            }
        )
    )
    assert cell_state(tmp_path, random_cell) == "done"
    # DCOD before version 3 (squared R_bn by default and unpaired starts before 2; half a cut box needed to show
    # before 3): stale even where every option matches
    unversioned = {k: v for k, v in now["method"].items() if k != "version"}
    assert now["method"]["version"] == 3 and state_with(now["protocol"], unversioned) == "stale"
    old_default = {k: v for k, v in unversioned.items() if k not in ("first_bn_coef", "ipe_fit")}
    assert state_with(now["protocol"], {**old_default, "bn_reduction": "sum"}) == "stale"


def test_teacher_key_follows_what_shapes_the_full_set_training(tiny_voc):
    """Protocols that train the full set the same way share a teacher; any change to that training does not."""
    from dcbench.data.voc import read_voc
    from dcbench.harness.identity import make_detector
    from dcbench.harness.teacher import teacher_key
    from dcbench.protocols import get_protocol

    train = read_voc(tiny_voc)  # 4 images: one optimiser step per epoch
    quick = get_protocol("quick")
    tiny = make_detector("yolov3-tiny")
    key = teacher_key(train, tiny, quick, 0)
    # the forge's settings, and a step floor the full set's 30 epochs already exceed, leave the training alone
    assert teacher_key(train, tiny, quick.with_overrides(forge_iterations=50, forge_batch=4), 0) == key
    long = quick.with_overrides(epochs=2000)  # above the 1500-step floor, which binds for 4 images
    assert teacher_key(train, tiny, long.with_overrides(min_iterations=100), 0) == teacher_key(train, tiny, long, 0)
    for changed in (
        long,
        quick.with_overrides(min_iterations=10_000),
        quick.with_overrides(imgsz=96),
        quick.with_overrides(batch=8),
    ):
        assert teacher_key(train, tiny, changed, 0) != key
    assert teacher_key(train, tiny, quick, 1) != key and teacher_key(train, make_detector("yolov3"), quick, 0) != key


def test_a_backend_recipe_version_keys_its_teachers_and_its_absence_keeps_the_old_keys(tiny_voc):
    """A backend that changes how it trains under the same name bumps ``recipe_version``: its old teachers are not
    reused. One without the attribute (every Ultralytics model) keeps the key it had, so no cache is lost."""
    from dcbench.data.voc import read_voc
    from dcbench.harness.identity import make_detector
    from dcbench.harness.teacher import teacher_detector_id, teacher_key, teacher_key_for
    from dcbench.protocols import get_protocol

    train, quick = read_voc(tiny_voc), get_protocol("quick")
    ultra = make_detector("yolo11n")
    assert not hasattr(ultra, "recipe_version") and teacher_detector_id(ultra) == ultra.name
    classic = make_detector("yolov3-tiny-classic")
    assert teacher_detector_id(classic) == f"yolov3-tiny-classic+recipe{classic.recipe_version}"
    by_name = teacher_key_for(train.fingerprint(), len(train), classic.name, quick, 0)
    assert teacher_key(train, classic, quick, 0) != by_name
    assert teacher_key(train, ultra, quick, 0) == teacher_key_for(train.fingerprint(), len(train), ultra.name, quick, 0)


def test_a_set_condensed_with_other_settings_is_redone_with_one_reason(tmp_path):
    from dcbench.harness.cell import condense_cell
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    cell = CellConfig("random", "yolov3-tiny", 0.1, 0, get_protocol("smoke"), dataset=TINY)
    condense_cell(cell, tmp_path, device="cpu")
    record_file = next(tmp_path.rglob("condense.json"))
    record = json.loads(record_file.read_text())
    record["settings"]["protocol"]["imgsz"] = 999
    record_file.write_text(json.dumps(record))

    class Notes:
        def __init__(self):
            self.notes = []

        def note(self, message):
            self.notes.append(message)

    notes = Notes()
    _, _, timings, made = condense_cell(cell, tmp_path, device="cpu", reporter=notes)
    assert not made["reused"] and "condense_s" in timings
    assert len(notes.notes) == 1 and "other settings (protocol.imgsz)" in notes.notes[0]


def test_ray_stage_errors_reach_the_cells_failure_record(tmp_path, monkeypatch):
    """The Ray chain's teacher and condense errors are not dropped: they land in failed.json with the cell's own."""
    from dcbench.harness.executors.ray_executor import _condense_stage, _evaluate_stage
    from dcbench.harness.identity import CellConfig
    from dcbench.plugins import hookimpl, manager
    from dcbench.protocols import get_protocol

    class Plugin:
        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("boom", _Boom, "always fails")

    with manager.registered(Plugin()):  # as if installed, for every registry the CLI builds
        cell = CellConfig("boom", "yolov3-tiny", 0.1, 0, get_protocol("smoke"), dataset=TINY)
        stage = _condense_stage(cell, str(tmp_path), "cpu", {"teacher": None, "errors": ["teacher stage: it broke"]})
        assert stage["condensed"] is None and stage["errors"][0] == "teacher stage: it broke"
        assert stage["errors"][1].startswith("condense stage:") and "the plugin broke" in stage["errors"][1]
        outcome = _evaluate_stage(cell, str(tmp_path), "cpu", stage)
        record = json.loads((tmp_path / cell.cell_name() / "failed.json").read_text())
        assert outcome.status == "failed" and record["upstream_errors"] == stage["errors"]


def test_an_unknown_method_in_a_cell_name_is_the_registrys_error():
    from dcbench.errors import RegistryError
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    with pytest.raises(RegistryError, match="unknown method 'nosuch'"):
        CellConfig("nosuch", "yolov3-tiny", 0.1, 0, get_protocol("smoke"), method_options={"x": 1}).cell_name()


@pytest.mark.slow
def test_cells_are_named_by_the_dataset_not_its_spelling(tiny_voc, tmp_path, monkeypatch):
    """voc:DIR, voc:DIR/ and the absolute or relative path are one dataset: one cell, one table."""
    import os

    from dcbench.data.spec import dataset_identity

    monkeypatch.chdir(tiny_voc.parent)
    spellings = [f"voc:{tiny_voc}", f"voc:{tiny_voc}/", f"voc:{os.path.relpath(tiny_voc)}", f"voc:./{tiny_voc.name}//"]
    assert {dataset_identity(s) for s in spellings} == {f"voc-{tiny_voc.name}"}
    out = tmp_path / "out"
    for spelling in spellings[:2]:
        assert main(smoke_run(out, ratio="0.67", dataset=spelling, detector="yolo11n")) == 0
    cells = [p.parent.name for p in out.glob("*/result.json")]
    assert cells == [f"voc-{tiny_voc.name}__random__yolo11n__r0.67__s0__smoke"]
    assert dataset_identity("shapes:?seed=0") == "shapes"  # the default, spelled out


@pytest.mark.slow
@pytest.mark.parametrize("ratios", [("0.1", "0.1"), ("0.1", "0.2")], ids=["same cell", "same teacher"])
def test_two_runs_at_once_share_the_teacher_and_the_condensed_set(tmp_path, ratios):
    env = {**os.environ, "DCBENCH_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "dcbench",
        "run",
        "--method",
        "dcod",
        "--dataset",
        TINY,
        "--detector",
        "yolov3-tiny",
        "--protocol",
        "smoke",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--ratio",
    ]
    runs = [
        subprocess.Popen([*argv, r], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ratios
    ]
    logs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], logs
    assert len(list((tmp_path / "cache" / "teachers").glob("*/teacher.json"))) == 1  # trained once
    assert "waiting" in "".join(e for _, e in logs)
    results = [json.loads(f.read_text()) for f in out.glob("*/result.json")]
    assert len(results) == len(set(ratios))
    assert sorted(r["teacher"]["source"] for r in results) == (
        ["trained"] if len(results) == 1 else ["cached", "trained"]
    )
    assert len(list((out / "condensed").glob("*/condensed/manifest.json"))) == len(set(ratios))


@pytest.mark.slow
def test_a_ratio_slice_runs_only_its_cells_and_the_slices_add_up_to_the_matrix(tmp_path, capsys):
    spec = write_spec(tmp_path, SMOKE_SPEC)
    out = tmp_path / "out"
    assert main(["matrix", str(spec), "--out", str(out), "--ratio", "0.1", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "smoke: 4 cells" in printed  # 2 detectors x 2 methods at 0.1; not the 0.2 cells, not the full row
    assert main(["matrix", str(spec), "--out", str(out), "--ratio", "0.3", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "no cells at ratio 0.3" in err and "0.1, 0.2, 1" in err
    # the full-data row is ratio 1; a slice's cells are the whole spec's, so a later full run finds them done
    assert main(["matrix", str(spec), "--out", str(out), "--ratio", "1", "--ratio", "0.1", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["matrix", str(spec), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "(6 done, 4 pending)" in printed


def test_a_seed_slice_takes_the_spec_s_cells_of_that_seed(tmp_path, capsys):
    spec = write_spec(tmp_path, SMOKE_SPEC.replace("seeds = [0]", "seeds = [0, 1, 2]"))
    out = tmp_path / "out"
    assert main(["matrix", str(spec), "--out", str(out), "--seed", "2", "--dry-run"]) == 0
    assert "smoke: 10 cells" in capsys.readouterr().out  # the 30 cells' seed-2 third, the full rows included
    assert main(["matrix", str(spec), "--out", str(out), "--seed", "1", "--ratio", "0.2", "--dry-run"]) == 0
    assert "smoke: 4 cells" in capsys.readouterr().out
    assert main(["matrix", str(spec), "--out", str(out), "--seed", "3", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "no cells at seed 3 (the spec's seeds: 0, 1, 2)" in err


def test_a_method_slice_takes_that_methods_cells(tmp_path, capsys):
    spec = write_spec(tmp_path, SMOKE_SPEC)
    out = tmp_path / "out"
    assert main(["matrix", str(spec), "--out", str(out), "--method", "herding", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "smoke: 4 cells" in printed and "random" not in printed  # 2 detectors x 2 ratios, herding only
    assert main(["matrix", str(spec), "--out", str(out), "--method", "full", "--method", "random", "--dry-run"]) == 0
    assert "smoke: 6 cells" in capsys.readouterr().out
    assert main(["matrix", str(spec), "--out", str(out), "--method", "dcod", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "no cells at method dcod (the spec's methods: full, herding, random)" in err


@pytest.mark.slow
def test_two_matrices_on_one_folder_share_the_cells_instead_of_queueing(tmp_path, caplog):
    """A cell another process holds is passed over and come back to after the rest; a cell another process
    finished meanwhile is not run again (its result is newer than this run)."""
    import logging

    from filelock import FileLock

    from dcbench.harness.executors.local import run_local
    from dcbench.harness.identity import CellConfig
    from dcbench.progress import Reporter
    from dcbench.protocols import get_protocol

    out = tmp_path / "out"
    held, free, done_elsewhere = (
        CellConfig("random", "yolov3-tiny", 0.1, seed, get_protocol("smoke"), dataset=TINY) for seed in (0, 1, 2)
    )
    lock = FileLock(str(out / ".locks" / f"cell-{held.cell_name()}.lock"))
    (out / ".locks").mkdir(parents=True)
    lock.acquire()  # "another process" is running the first cell

    def other_process(outcome) -> None:
        if outcome.cell == free.cell_name():  # while this one ran the second, the other finished both of its own
            (out / done_elsewhere.cell_name()).mkdir()
            (out / done_elsewhere.cell_name() / "result.json").write_text("{}")
            lock.release()

    with caplog.at_level(logging.INFO, logger="dcbench"):
        outcomes = run_local(
            [held, free, done_elsewhere], out, device="cpu", reporter=Reporter(), on_done=other_process
        )
    assert [o.cell for o in outcomes] == [free.cell_name(), held.cell_name()]
    assert all(o.status == "ok" for o in outcomes)
    assert f"{held.cell_name()}: another process holds cell-{held.cell_name()}.lock" in caplog.text
    assert f"{done_elsewhere.cell_name()}: finished by another process meanwhile" in caplog.text
    assert (out / done_elsewhere.cell_name() / "result.json").read_text() == "{}"  # not run again


@pytest.mark.slow
def test_a_cell_passed_over_before_is_passed_over_again_after_this_process_finishes_one(tmp_path):
    """Two lanes: this one passed over two cells whose locks the other held and ran a third. The other lane has
    since finished one of the two and taken the first's place on the other: this lane runs the free one instead of
    waiting behind the held one (seen in the reference runs: a lane sat 28 minutes behind a cell the other lane ran,
    with a free cell after it)."""
    import threading

    from filelock import FileLock

    from dcbench.harness.cell import results_lock
    from dcbench.harness.executors.local import run_local
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    out = tmp_path / "out"
    a, b, c = (CellConfig("random", "yolov3-tiny", 0.1, s, get_protocol("smoke"), dataset=TINY) for s in (0, 1, 2))
    held = {
        x.cell_name(): FileLock(str(results_lock(out, f"cell-{x.cell_name()}")), thread_local=False) for x in (a, b)
    }
    for lock in held.values():
        taker = threading.Thread(target=lock.acquire)  # another thread: filelock sees no deadlock
        taker.start()
        taker.join()
    give_up = threading.Timer(60, held[a.cell_name()].release)  # a regression fails on the order, not by hanging
    give_up.start()

    def other_lane(outcome) -> None:
        if outcome.cell == c.cell_name():
            held[b.cell_name()].release()  # b is free now; a is still the other lane's
        if outcome.cell == b.cell_name():
            give_up.cancel()
            held[a.cell_name()].release()

    outcomes = run_local([a, b, c], out, device="cpu", on_done=other_lane)
    assert [o.cell for o in outcomes] == [c.cell_name(), b.cell_name(), a.cell_name()]
    assert all(o.status == "ok" and o.here for o in outcomes)


@pytest.mark.slow
def test_a_cell_taken_while_this_process_prepares_it_is_passed_over_not_waited_for(tmp_path, monkeypatch):
    """Two lanes started together both find the first cell free; the one that loses its lock by a moment goes on to
    the next cell instead of waiting for the whole of the first (the lock is tried, not glanced at)."""
    import threading

    from filelock import FileLock

    import dcbench.harness.cell as cell_module
    from dcbench.harness.executors.local import run_local
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    out = tmp_path / "out"
    first, second = (CellConfig("random", "yolov3-tiny", 0.1, s, get_protocol("smoke"), dataset=TINY) for s in (0, 1))
    (out / ".locks").mkdir(parents=True)
    other_lane = FileLock(str(out / ".locks" / f"cell-{first.cell_name()}.lock"), thread_local=False)
    # without passing over, this process would wait for the other lane: let it go in the end, so that such a
    # regression fails on the order below instead of hanging the suite
    give_up = threading.Timer(60, other_lane.release)
    prepare, taken = cell_module.prepare, []

    def prepare_while_the_other_lane_takes_the_cell(config, reporter=None):
        if config == first and not taken:
            taken.append(threading.Thread(target=other_lane.acquire))  # another thread: filelock sees no deadlock
            taken[0].start()
            taken[0].join()
            give_up.start()
        return prepare(config, reporter)

    def other_lane_finishes(outcome) -> None:
        if outcome.cell == second.cell_name():
            give_up.cancel()
            other_lane.release()

    monkeypatch.setattr(cell_module, "prepare", prepare_while_the_other_lane_takes_the_cell)
    outcomes = run_local([first, second], out, device="cpu", on_done=other_lane_finishes)
    assert [o.cell for o in outcomes] == [second.cell_name(), first.cell_name()]
    assert all(o.status == "ok" for o in outcomes)


@pytest.mark.slow
def test_a_cell_whose_condensed_set_another_process_is_making_is_passed_over(tmp_path):
    """A lock taken deep inside a cell (its condensed set, shared by both label modes of a row; its teacher) held
    by another lane: the cell is given up at once and come back to, not waited through."""
    import threading

    from filelock import FileLock

    from dcbench.harness.cell import results_lock
    from dcbench.harness.executors.local import run_local
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    out = tmp_path / "out"
    first, second = (CellConfig("random", "yolov3-tiny", 0.1, s, get_protocol("smoke"), dataset=TINY) for s in (0, 1))
    other_lane = FileLock(str(results_lock(out, f"condensed-{first.condense_name()}")), thread_local=False)
    taker = threading.Thread(target=other_lane.acquire)  # another thread: filelock sees no deadlock
    taker.start()
    taker.join()
    give_up = threading.Timer(60, other_lane.release)  # a regression fails on the order below, not by hanging
    give_up.start()

    def other_lane_finishes(outcome) -> None:
        if outcome.cell == second.cell_name():
            give_up.cancel()
            other_lane.release()

    outcomes = run_local([first, second], out, device="cpu", on_done=other_lane_finishes)
    assert [o.cell for o in outcomes] == [second.cell_name(), first.cell_name()]
    assert all(o.status == "ok" for o in outcomes)
    assert not (out / first.cell_name() / "failed.json").exists()


@pytest.mark.slow
def test_a_cell_another_process_finishes_while_this_one_waits_is_not_counted_as_run_here(tmp_path):
    """The last cell of a queue is waited for, not passed over; when the other process finishes it, the outcome
    says so, and the matrix does not count it among the cells it finished."""
    import threading

    from filelock import FileLock

    from dcbench.harness.cell import results_lock
    from dcbench.harness.executors.local import run_local
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol

    out = tmp_path / "out"
    cell = CellConfig("random", "yolov3-tiny", 0.1, 0, get_protocol("smoke"), dataset=TINY)
    other = FileLock(str(results_lock(out, f"cell-{cell.cell_name()}")), thread_local=False)
    taker = threading.Thread(target=other.acquire)  # another thread: filelock sees no deadlock
    taker.start()
    taker.join()
    record = {"cell": cell.cell_name(), "config": {}, "metrics": {"mAP": 1.0}, "budget": 2, "condensed": {}}
    record.update(method={"name": "random"}, timings={"total_s": 7.0})

    def other_finishes() -> None:
        (out / cell.cell_name()).mkdir(parents=True)
        (out / cell.cell_name() / "result.json").write_text(json.dumps(record))
        other.release()

    threading.Timer(3, other_finishes).start()
    [outcome] = run_local([cell], out, device="cpu")
    assert outcome.status == "ok" and not outcome.here and outcome.cell_seconds == 7.0
    assert json.loads((out / cell.cell_name() / "result.json").read_text()) == record  # read, not run again
