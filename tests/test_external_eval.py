"""``dcbench eval`` at the smoke protocol: a cell's condensed set evaluated with the cell's detector, protocol and
seed reproduces the cell exactly, also after ``dcbench export`` and ``dcbench import``; leakage into the test set is
warned about and recorded; the results sit in the leaderboard beside the cells'."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("ultralytics")

from dcbench.api import read_result_record  # noqa: E402
from dcbench.cli.app import main  # noqa: E402
from tests.conftest import TINY_SHAPES, smoke_run  # noqa: E402

DETECTOR = "yolov3-tiny"


def _eval(set_path, out: Path, *extra: str) -> list[str]:
    return ["eval", str(set_path), "--detector", DETECTOR, "--protocol", "smoke", "--seed", "0", "--out", str(out)] + [
        "--device",
        "cpu",
        *extra,
    ]


def _external_result(out: Path, name: str):
    files = [f for f in out.glob("*/result.json") if f"external-{name}-" in f.parent.name]
    assert len(files) == 1, files
    return files[0].parent, read_result_record(files[0])


def _same_weights(a: Path, b: Path) -> bool:
    """The two students' weights, tensor for tensor: at smoke every metric is 0, so equal metrics alone would prove
    little; equal weights prove the same training."""
    import torch

    def state(path):
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        return {
            f"{part}.{k}": v
            for part in ("model", "ema")
            if ckpt.get(part) is not None
            for k, v in ckpt[part].state_dict().items()
        }

    sa, sb = state(a), state(b)
    return sa.keys() == sb.keys() and len(sa) > 0 and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_eval_of_a_cells_set_reproduces_the_cell_also_after_export_and_import(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(smoke_run(runs, detector=DETECTOR)) == 0
    cell_dir = next(p for p in runs.iterdir() if (p / "result.json").is_file())
    cell = read_result_record(cell_dir / "result.json")
    set_dir = next((runs / "condensed").iterdir())  # the cell's OUT/condensed/<name>/, with condense.json

    assert main(_eval(set_dir, runs, "--train", TINY_SHAPES)) == 0
    ext_dir, ext = _external_result(runs, set_dir.name)
    assert ext["metrics"] == cell["metrics"]
    assert _same_weights(cell_dir / "student" / "detector.pt", ext_dir / "student" / "detector.pt")
    assert ext["method"]["name"] == "external" and ext["method"]["label"] == f"external:{set_dir.name}"
    assert ext["budget"] == cell["budget"] == 2 and ext["config"]["ratio"] == 0.1 and ext["effective_ratio"] == 0.1
    assert ext["data"]["test_fingerprint"] == cell["data"]["test_fingerprint"]
    assert ext["classes"] == cell["classes"]  # two images of six classes: the same ones missing, and said so
    assert all("test classes have no box in the set" in w for w in ext["warnings"])
    assert ext["config"]["dataset_id"] == cell["config"]["dataset_id"]
    assert ext["condensed"]["leakage"]["count"] == 0

    archive = tmp_path / "shared" / "set.tar.gz"
    assert main(["export", str(set_dir), str(archive)]) == 0
    imported = tmp_path / "elsewhere" / "imported"
    assert main(["import", str(archive), str(imported)]) == 0
    shutil.rmtree(set_dir)  # the imported copy stands on its own
    assert main(_eval(imported, runs, "--train", TINY_SHAPES)) == 0
    imp_dir, imp = _external_result(runs, "imported")
    assert imp["metrics"] == cell["metrics"]
    assert imp["condensed"]["fingerprint"] == ext["condensed"]["fingerprint"]
    assert _same_weights(cell_dir / "student" / "detector.pt", imp_dir / "student" / "detector.pt")

    # a finished evaluation is shown, not redone
    mtime = (imp_dir / "result.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(_eval(imported, runs, "--train", TINY_SHAPES)) == 0
    assert (imp_dir / "result.json").stat().st_mtime_ns == mtime and "exists" in capsys.readouterr().err

    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.tables import summarise

    (table,) = summarise(load_results(runs))
    labels = list(table.summary["label"])
    assert labels[0] == "random" and f"external:{set_dir.name}" in labels and "external:imported" in labels


@pytest.mark.slow
def test_eval_of_a_set_that_holds_a_test_image_warns_and_records_it(tmp_path, capsys):
    """A COCO set with one train image and one test image of the tiny dataset, scored on its test split with
    --test only: leakage is warned about (one line) and recorded; with no train set there is no ratio, and the
    leaderboard gives the set a table of its own."""
    from dcbench.data.model import DetectionDataset
    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.data.writers import write_coco_json

    split = resolve_train_test(load_dataset(TINY_SHAPES))
    chosen = [split.train.images[0], split.test.images[1]]
    folder = tmp_path / "mine"
    (folder / "images").mkdir(parents=True)
    names = [f"{k}_{im.file.name}" for k, im in enumerate(chosen)]
    for name, im in zip(names, chosen):
        shutil.copyfile(im.file, folder / "images" / name)
    write_coco_json(DetectionDataset("mine", split.train.categories, chosen), folder / "set.json", names)

    runs = tmp_path / "runs"
    spec = f"coco:{folder / 'set.json'}?images={folder / 'images'}"
    capsys.readouterr()
    assert main(_eval(spec, runs, "--test", TINY_SHAPES)) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "leakage" in line]
    assert len(warned) == 1 and names[1] in warned[0] and split.test.images[1].file.name in warned[0]
    record = read_result_record(next(runs.glob("*/result.json")))
    assert record["warnings"] == [warned[0].split("warning: ", 1)[1]]
    assert record["condensed"]["leakage"] == {"count": 1, "pairs": [[names[1], split.test.images[1].file.name]]}
    assert record["config"]["ratio"] is None and "effective_ratio" not in record and record["budget"] == 2

    out = tmp_path / "lb"
    assert main(["leaderboard", str(runs), "--out", str(out)]) == 0
    (md,) = [p for p in out.glob("*.md") if p.name != "README.md"]
    text = md.read_text()
    assert md.name.startswith("no_train_set") and "Sets scored with no train set" in text
    assert "external:coco-set.json" in text and (out / md.name.replace(".md", ".png")).is_file()


def test_eval_needs_a_test_set_and_a_set(tmp_path, capsys):
    """Bad arguments are one line (exit 2) before anything is written."""
    from dcbench.condensed import write_condensed
    from dcbench.data.spec import load_dataset

    ds = load_dataset(TINY_SHAPES)
    write_condensed(ds.subset([0, 1]), tmp_path / "set", {"method": "random", "budget": 2})
    out = tmp_path / "runs"
    for argv, expected in [
        (_eval(tmp_path / "set", out), "no test set to score it on"),
        (_eval(tmp_path, out, "--train", TINY_SHAPES), "not a dcbench condensed set"),
        (_eval(tmp_path / "set", out, "--test", "yolo:" + str(tmp_path / "nope")), "nope"),
    ]:
        capsys.readouterr()
        assert main(argv) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and expected in err[0], err
    assert not out.exists()
    assert json.loads((tmp_path / "set" / "manifest.json").read_text())["method"] == "random"


@pytest.mark.slow
def test_eval_takes_the_protocol_overrides_a_cell_had_and_lands_in_its_table(tmp_path):
    """A reference spec overrides its preset (``[protocol_overrides]``); ``eval`` with the same flags scores a set
    under that very rule and protocol id, so the set joins the spec's table instead of a table of its own."""
    runs = tmp_path / "runs"
    overrides = ("--nominal-batch", "4", "--min-iterations", "3")
    assert main(smoke_run(runs, detector=DETECTOR, extra=overrides)) == 0
    cell_dir = next(p for p in runs.iterdir() if (p / "result.json").is_file())
    cell = read_result_record(cell_dir / "result.json")
    set_dir = next((runs / "condensed").iterdir())
    assert main(_eval(set_dir, runs, "--train", TINY_SHAPES, *overrides)) == 0
    ext_dir, ext = _external_result(runs, set_dir.name)
    assert cell["config"]["protocol"]["overrides"] == {"nominal_batch": 4, "min_iterations": 3}
    assert ext["config"]["protocol"] == cell["config"]["protocol"]
    assert _same_weights(cell_dir / "student" / "detector.pt", ext_dir / "student" / "detector.pt")
    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.tables import summarise

    (table,) = summarise(load_results(runs))
    assert set(table.summary["label"]) == {"random", f"external:{set_dir.name}"}
