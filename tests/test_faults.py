"""Faults of the machine and of the files dcbench reads back: a full disk, read-only or looping folders, a folder
where a file goes, damaged result files, Ctrl-C, and names rich would read as markup. Each is one line naming the
path and the problem, a non-zero exit, and nothing half-written left looking complete."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from dcbench.api import RESULT_SCHEMA, read_result_record
from dcbench.cli.app import main
from dcbench.errors import ConfigError, DatasetError
from dcbench.harness.matrix import load_spec
from tests.conftest import smoke_run, write_png, write_voc_xml
from tests.test_leaderboard import fake_result

TINY = "shapes:?n_train=20&n_test=4&size=64&max_extent=28"
SPEC = f"""
name = "faults"
protocol = "smoke"
datasets = ["{TINY}"]
detectors = ["yolov3-tiny"]
ratios = [0.1, 0.2]
seeds = [0]

[[methods]]
name = "random"
"""


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_line(capsys) -> str:
    """The one line a command printed besides its progress notes (``[dcbench] ...``)."""
    err = capsys.readouterr().err
    lines = [line for line in lines_of(err) if not line.startswith("[dcbench] ")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def interrupted(capsys) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err and lines_of(err)[-1] == "dcbench: interrupted", err
    assert err.count("interrupted") == 1


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def full_disk(monkeypatch, *, only=None):
    """Every rename into place fails as on a full disk (the write before it may have worked): what any writer
    meets at the last step. ``only``: a predicate on the destination, to fail some writes and not others."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if only is None or only(Path(dst)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


def read_only(monkeypatch):
    """The probe dcbench writes to tell whether a folder is writable fails, as in a read-only folder (the tests
    may run as root, who writes anywhere)."""

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One finished smoke cell, made once: copied by each test that changes it."""
    out = tmp_path_factory.mktemp("finished")
    assert main(smoke_run(out)) == 0
    return out


def copy_of(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    return out, next(out.glob("*/result.json"))


# -- writers ------------------------------------------------------------------------------------------------------
def test_a_full_disk_while_tables_are_written_is_one_line_and_leaves_the_old_tables(tmp_path, capsys, monkeypatch):
    results, out = tmp_path / "results", tmp_path / "tables"
    fake_result(results, "random", 0.01, 0, 1.0)
    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    fake_result(results, "random", 0.02, 0, 2.0)
    capsys.readouterr()
    full_disk(monkeypatch)
    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots"]) == 1
    line = one_line(capsys)
    assert "No space left on device" in line and str(out) in line and ".partial" not in line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not leftovers(out)


def test_a_folder_where_a_table_goes_is_one_line(tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "tables"
    fake_result(results, "random", 0.01, 0, 1.0)
    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots"]) == 0
    table = next(out.glob("*.csv"))
    table.unlink()
    table.mkdir()
    capsys.readouterr()
    assert main(["leaderboard", str(results), "--out", str(out), "--no-plots", "--overwrite"]) == 2
    line = one_line(capsys)
    assert str(table) in line and "folder" in line
    assert not leftovers(out)


@pytest.mark.parametrize("command", ["run", "matrix", "matrix --dry-run", "leaderboard"])
def test_an_output_path_through_a_symlink_loop_is_one_line(command, tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    results = tmp_path / "results"
    fake_result(results, "random", 0.01, 0, 1.0)
    argv = {
        "run": smoke_run(loop),
        "matrix": ["matrix", str(spec), "--out", str(loop)],
        "matrix --dry-run": ["matrix", str(spec), "--out", str(loop), "--dry-run"],
        "leaderboard": ["leaderboard", str(results), "--out", str(loop / "x")],
    }[command]
    assert main(argv) == 2
    line = one_line(capsys)
    assert str(loop) in line and "symlink loop" in line


def test_a_read_only_cache_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("DCBENCH_CACHE", str(cache))
    read_only(monkeypatch)
    assert main(["data", "check", "shapes:?n_train=5&n_test=2&size=32&min_extent=8&max_extent=12"]) == 2
    line = one_line(capsys)
    assert str(cache) in line and "DCBENCH_CACHE" in line and "not writable" in line
    assert not leftovers(cache)


def test_a_cache_under_a_file_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    monkeypatch.setenv("DCBENCH_CACHE", str(a_file / "cache"))
    assert main(["data", "check", "shapes:?n_train=5&n_test=2&size=32&min_extent=8&max_extent=12"]) == 2
    line = one_line(capsys)
    assert str(a_file) in line and "DCBENCH_CACHE" in line


def test_a_full_disk_while_the_dataset_is_generated_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DCBENCH_CACHE", str(cache))
    full_disk(monkeypatch)
    assert main(["data", "check", "shapes:?n_train=5&n_test=2&size=32&min_extent=8&max_extent=12"]) == 1
    line = one_line(capsys)
    assert "No space left on device" in line and str(cache) in line
    assert not leftovers(cache) and not list((cache / "datasets").iterdir())


@pytest.mark.slow
def test_show_onto_a_folder_or_a_full_disk_is_one_line_and_leaves_no_file(finished, tmp_path, capsys, monkeypatch):
    set_dir = next((finished / "condensed").iterdir())
    folder = tmp_path / "grid.png"
    folder.mkdir()
    assert main(["show", str(set_dir), "--out", str(folder)]) == 2
    line = one_line(capsys)
    assert str(folder) in line and "folder" in line and not list(folder.iterdir())
    target = tmp_path / "grid2.png"
    full_disk(monkeypatch)
    assert main(["show", str(set_dir), "--out", str(target)]) == 1
    line = one_line(capsys)
    assert str(target) in line and "No space left on device" in line
    assert not target.exists() and not leftovers(tmp_path)


def test_show_into_a_read_only_folder_is_one_line_naming_the_file(finished, tmp_path, capsys, monkeypatch):
    set_dir = next((finished / "condensed").iterdir())
    target = tmp_path / "read-only" / "grid.png"
    target.parent.mkdir()

    def refuse(self, data):  # as opening a file for writing in a read-only folder does (root included)
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_bytes", refuse)
    assert main(["show", str(set_dir), "--out", str(target)]) == 1
    line = one_line(capsys)
    assert line == f"error: {target}: Permission denied"
    assert not list(target.parent.iterdir())


def test_export_onto_a_folder_is_one_line(finished, tmp_path, capsys):
    set_dir = next((finished / "condensed").iterdir())
    folder = tmp_path / "set.tar.gz"
    folder.mkdir()
    assert main(["export", str(set_dir), str(folder)]) == 2
    line = one_line(capsys)
    assert str(folder) in line and "folder" in line
    assert not leftovers(tmp_path)


def test_an_os_error_the_commands_do_not_expect_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    def broken(*a, **k):
        raise OSError(errno.EIO, "Input/output error", "/dev/imaginary")

    monkeypatch.setattr("dcbench.plugins.manager.get_registries", broken)
    assert main(["list"]) == 1
    line = one_line(capsys)
    assert "/dev/imaginary" in line and "Input/output error" in line


def test_a_bug_keeps_its_traceback(monkeypatch):
    def bug(*a, **k):
        raise ZeroDivisionError("a real bug")

    monkeypatch.setattr("dcbench.plugins.manager.get_registries", bug)
    with pytest.raises(ZeroDivisionError):
        main(["list"])


# -- the matrix on a full disk ---------------------------------------------------------------------------------------
def test_a_full_disk_in_the_matrix_marks_cells_failed_and_tries_the_rest(tmp_path, capsys, monkeypatch):
    from dcbench.harness.executors import outcome

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    tried = []

    def cell_on_a_full_disk(config, out_root, **kwargs):
        tried.append(config.cell_name())
        raise OSError(errno.ENOSPC, "No space left on device", str(out_root / config.cell_name() / "x.pt"))

    monkeypatch.setattr(outcome, "run_or_read_cell", cell_on_a_full_disk)
    # an earlier failure record of the second cell: kept whole when the new one cannot be written
    earlier = out / load_spec(spec).cells()[1].cell_name() / "failed.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"error": "an earlier failure"}')
    full_disk(monkeypatch, only=lambda dst: dst.name == "failed.json")
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(tried) == 2
    failed = [line for line in lines_of(err) if "FAILED" in line]
    assert len(failed) == 2 and all("failed.json could not be written" in line for line in failed), err
    assert all("No space left on device" in line for line in failed)
    assert not leftovers(out) and list(out.glob("*/failed.json")) == [earlier]
    assert earlier.read_text() == '{"error": "an earlier failure"}'


def test_a_cell_whose_failure_record_is_written_is_retried(tmp_path, capsys, monkeypatch):
    from dcbench.harness.executors import outcome

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"

    def cell_on_a_full_disk(config, out_root, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/somewhere/x.pt")

    monkeypatch.setattr(outcome, "run_or_read_cell", cell_on_a_full_disk)
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 1
    records = [json.loads(p.read_text()) for p in out.glob("*/failed.json")]
    assert len(records) == 2 and all("No space left on device" in r["error"] for r in records)


# -- damaged result files ----------------------------------------------------------------------------------------
VALID = {"cell": "c", "config": {}, "metrics": {}, "budget": 1, "condensed": {}, "method": {}}
DAMAGED = {
    "not UTF-8": b'{"cell": "\xff\xfe"}',
    "schema two": json.dumps({**VALID, "schema": "two"}).encode(),
    "schema 2.5": json.dumps({**VALID, "schema": 2.5}).encode(),
    "schema null": json.dumps({**VALID, "schema": None}).encode(),
    "schema list": json.dumps({**VALID, "schema": [2]}).encode(),
    "schema true": json.dumps({**VALID, "schema": True}).encode(),
    "schema 0": json.dumps({**VALID, "schema": 0}).encode(),
    "future schema": json.dumps({**VALID, "schema": RESULT_SCHEMA + 1}).encode(),
    "metrics a list": json.dumps({**VALID, "metrics": [1]}).encode(),
    "a folder": None,
}


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_a_damaged_result_file_is_one_dataset_error_naming_it(damage, tmp_path):
    path = tmp_path / "result.json"
    if DAMAGED[damage] is None:
        path.mkdir()
    else:
        path.write_bytes(DAMAGED[damage])
    with pytest.raises(DatasetError) as err:
        read_result_record(path)
    assert str(err.value).startswith(f"{path}: ") and len(str(err.value).splitlines()) == 1
    if damage == "future schema":
        assert "newer dcbench" in str(err.value)


@pytest.mark.parametrize("damage", ["not UTF-8", "schema two", "future schema", "metrics a list"])
def test_the_leaderboard_skips_a_damaged_result_with_a_warning_naming_it(damage, tmp_path, capsys):
    results = tmp_path / "results"
    fake_result(results, "random", 0.01, 0, 1.0)
    fake_result(results, "random", 0.02, 0, 2.0)
    bad = sorted(results.glob("*/result.json"))[0]
    bad.write_bytes(DAMAGED[damage])
    assert main(["leaderboard", str(results), "--out", str(tmp_path / "tables"), "--no-plots"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in lines_of(captured.err) if "warning" in line]
    assert len(warnings) == 1 and str(bad) in warnings[0] and "skipped" in warnings[0], captured.err
    assert "Traceback" not in captured.err and "1 %" not in captured.out and "2 %" in captured.out


def test_the_leaderboard_of_nothing_but_damaged_results_is_one_error(tmp_path, capsys):
    results = tmp_path / "results"
    fake_result(results, "random", 0.01, 0, 1.0)
    bad = next(results.glob("*/result.json"))
    bad.write_bytes(DAMAGED["not UTF-8"])
    assert main(["leaderboard", str(results), "--out", str(tmp_path / "tables"), "--no-plots"]) == 2
    line = one_line(capsys)
    assert str(bad) in line and "no valid" in line


@pytest.mark.slow
def test_run_reruns_a_cell_whose_result_is_damaged_and_force_rebuilds_it(finished, tmp_path, capsys):
    out, result = copy_of(finished, tmp_path)
    argv = smoke_run(out)
    result.write_bytes(DAMAGED["not UTF-8"])
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    said = [line for line in lines_of(err) if str(result) in line and "running the cell again" in line]
    assert len(said) == 1 and "Traceback" not in err
    assert read_result_record(result)["schema"] == RESULT_SCHEMA
    result.write_text(json.dumps({**json.loads(result.read_text()), "schema": "two"}))
    assert main([*argv, "--force"]) == 0
    assert read_result_record(result)["schema"] == RESULT_SCHEMA


@pytest.mark.slow
def test_the_matrix_says_which_results_are_damaged_and_redoes_them(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("ratios = [0.1, 0.2]", "ratios = [0.1]"))
    out = tmp_path / "out"
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 0
    result = next(out.glob("*/result.json"))
    result.write_text(json.dumps({**json.loads(result.read_text()), "schema": None}))
    capsys.readouterr()
    assert main(["matrix", str(spec), "--out", str(out), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "1 damaged" in captured.out and "Traceback" not in captured.err
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert len([line for line in lines_of(err) if str(result) in line and "again" in line]) == 1, err
    assert read_result_record(result)["schema"] == RESULT_SCHEMA


# -- Ctrl-C ------------------------------------------------------------------------------------------------------
def test_ctrl_c_while_a_teacher_trains_is_one_line_130_and_leaves_no_partial(tmp_path, capsys, monkeypatch):
    from dcbench.detectors.ultralytics import UltralyticsDetector

    cache = tmp_path / "cache"
    monkeypatch.setenv("DCBENCH_CACHE", str(cache))

    def ctrl_c_mid_training(self, dataset, *, workdir, **kwargs):
        (Path(workdir) / "last.pt").write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(UltralyticsDetector, "train", ctrl_c_mid_training)
    assert main(smoke_run(tmp_path / "out", method="full", ratio="1")) == 130
    interrupted(capsys)
    assert (cache / "teachers").is_dir() and not list((cache / "teachers").iterdir())


def test_ctrl_c_while_the_dataset_is_generated_leaves_no_partial(tmp_path, capsys, monkeypatch):
    from dcbench.data import shapes

    cache = tmp_path / "cache"
    monkeypatch.setenv("DCBENCH_CACHE", str(cache))
    real = shapes.draw_image

    def draw(cfg, split, index):
        if index == 3:
            raise KeyboardInterrupt
        return real(cfg, split, index)

    monkeypatch.setattr(shapes, "draw_image", draw)
    assert main(["data", "check", "shapes:?n_train=5&n_test=2&size=32&min_extent=8&max_extent=12"]) == 130
    interrupted(capsys)
    assert not list((cache / "datasets").iterdir())


def test_a_killed_generations_leftover_is_removed(tmp_path, monkeypatch):
    from dcbench.data.shapes import ShapesConfig, shapes_dataset

    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    cfg = ShapesConfig(n_train=3, n_test=1, size=32, min_extent=8, max_extent=12)
    dead = tmp_path / "cache" / "datasets" / f"shapes-{cfg.key()}.partial999999"  # no such process
    (dead / "train").mkdir(parents=True)
    assert len(shapes_dataset(cfg)) == 4 and not dead.exists()


def test_ctrl_c_while_a_file_is_written_leaves_no_partial(tmp_path):
    from dcbench.io import atomic_write

    def write(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.json", write)
    assert not list(tmp_path.iterdir())


# -- names rich would read as markup ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["[/]x.png", "[bold]x.png", "[red]x.png", "x[/red].png"])
def test_a_name_holding_markup_is_printed_verbatim_in_an_error(name, tmp_path, capsys):
    write_png(tmp_path / "JPEGImages" / "a.png")
    write_voc_xml(tmp_path / "Annotations" / "a.xml", name, [("cat", 1, 1, 5, 5)])
    assert main(["data", "check", f"voc:{tmp_path}"]) == 2
    line = one_line(capsys)
    assert name in line


def test_a_name_holding_markup_is_printed_verbatim_in_a_warning(tmp_path, capsys):
    results = tmp_path / "results"
    fake_result(results, "random", 0.01, 0, 1.0)
    fake_result(results, "random", 0.02, 0, 2.0)
    bad = sorted(results.glob("*/result.json"))[0]
    marked = results / "a[" / "][bold]x[red]"  # "[/]" across two folders: no file name holds a slash
    marked.parent.mkdir()
    bad.parent.rename(marked)
    (marked / "result.json").write_text("{not json")
    assert main(["leaderboard", str(results), "--out", str(tmp_path / "tables"), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert str(marked / "result.json") in err and "Traceback" not in err


def test_library_warnings_holding_markup_are_printed_verbatim(capsys):
    import logging

    from dcbench.cli import console

    console.install_log_handler()
    logging.getLogger("dcbench.test").warning("%s: a [bold]name[/] and [/]", "[red]x")
    err = capsys.readouterr().err
    assert "warning: [red]x: a [bold]name[/] and [/]" in err


# -- the matrix's bad-image policy ------------------------------------------------------------------------------------
def test_skip_bad_images_in_a_spec_reaches_every_cell(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("skip_bad_images = true\n" + SPEC)
    assert all(c.skip_bad_images for c in load_spec(spec).cells())
    spec.write_text(SPEC)
    assert not any(c.skip_bad_images for c in load_spec(spec).cells())
    spec.write_text('skip_bad_images = "yes"\n' + SPEC)
    with pytest.raises(ConfigError) as err:
        load_spec(spec)
    assert str(err.value).startswith(str(spec)) and "skip_bad_images" in str(err.value)


def test_the_skip_bad_images_flag_reaches_every_cell_and_dry_run_runs_nothing(tmp_path, capsys, monkeypatch):
    from dcbench.cli import matrix_cmd

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    ran = []
    monkeypatch.setattr(matrix_cmd, "_run", lambda plan, *a, **k: ran.extend(plan.todo))
    assert main(["matrix", str(spec), "--out", str(out), "--skip-bad-images"]) == 0
    assert len(ran) == 2 and all(c.skip_bad_images for c in ran)
    ran.clear()
    assert main(["matrix", str(spec), "--out", str(out)]) == 0
    assert len(ran) == 2 and not any(c.skip_bad_images for c in ran)
    capsys.readouterr()
    assert main(["matrix", str(spec), "--out", str(tmp_path / "dry"), "--dry-run", "--skip-bad-images"]) == 0
    captured = capsys.readouterr()
    assert "2 pending" in captured.out and "Traceback" not in captured.err
    assert not (tmp_path / "dry").exists()
