"""A short forge against a tiny real teacher: the loss goes down, and a killed forge resumes to the same images."""

import json

import numpy as np
import pytest

pytest.importorskip("ultralytics")

from dcbench.cli.app import main  # noqa: E402
from dcbench.data.shapes import ShapesConfig, shapes_dataset  # noqa: E402
from dcbench.detectors.ultralytics import YOLOv3Tiny  # noqa: E402
from dcbench.methods.dcod.config import DCODConfig  # noqa: E402
from dcbench.methods.dcod.forge import Slot, forge  # noqa: E402
from dcbench.methods.dcod.method import load_source  # noqa: E402
from dcbench.protocols import get_protocol  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    ds = shapes_dataset(ShapesConfig(n_train=16, n_test=4, size=64, max_extent=28)).split("train")
    backend = YOLOv3Tiny()
    protocol = get_protocol("smoke")
    ckpt = backend.train(ds, protocol=protocol, seed=0, workdir=tmp_path_factory.mktemp("teacher"), device="cpu")
    target = backend.inversion_target(ckpt, protocol=protocol, device="cpu")
    return ds, target


def _slots(ds, n=3):
    return [
        Slot([lambda i=i: load_source(ds, i, 64)] + [lambda j=j: load_source(ds, j, 64) for j in range(4, 12)])
        for i in range(n)
    ]


@pytest.mark.slow
def test_short_forge_lowers_the_total_loss(setup, tmp_path):
    ds, target = setup
    cfg = DCODConfig(
        iterations=30, forge_batch=3, lr=0.05, jitter=0, flip=False, erase=False, ipe=False, schedule="constant"
    )
    result = forge(_slots(ds), target, cfg, seed=0, workdir=tmp_path)
    totals = [h["total"] for h in result.history[0]]
    assert totals[-1] < totals[0]
    assert len(result.images) == 3 and result.images[0].shape == (64, 64, 3) and result.images[0].dtype == np.uint8


class _Kill(Exception):
    pass


class _KillingReporter:
    """Raises after ``n`` iterations, as a SIGKILL would stop a forge in the middle."""

    def __init__(self, n):
        from dcbench.progress import SILENT

        self.n, self.silent = n, SILENT

    def note(self, message):
        pass

    def stage(self, name, total=None, unit=""):
        from contextlib import contextmanager

        @contextmanager
        def cm():
            def step(i=None, info=""):
                if i is not None and i >= self.n:
                    raise _Kill()

            yield step

        return cm()


@pytest.mark.parametrize("fit", ["rescale", "crop"])
@pytest.mark.slow
def test_interrupted_forge_resumes_to_the_same_result(setup, tmp_path, fit):
    ds, target = setup
    cfg = DCODConfig(iterations=12, forge_batch=2, checkpoint_every=4, lr=0.05, ipe_fit=fit)  # FBD + IPE: 1 -> 2 -> 3
    straight = forge(_slots(ds), target, cfg, seed=3, workdir=tmp_path / "a")
    with pytest.raises(_Kill):
        forge(_slots(ds), target, cfg, seed=3, workdir=tmp_path / "b", reporter=_KillingReporter(10))
    states = sorted(p.name for p in (tmp_path / "b" / "forge").iterdir())
    assert states == ["batch_0000.state.pt"]  # killed in batch 0 after the iteration-8 checkpoint
    resumed = forge(_slots(ds), target, cfg, seed=3, workdir=tmp_path / "b")
    for a, b in zip(straight.images, resumed.images):
        assert np.array_equal(a, b)
    for (ba, la), (bb, lb) in zip(straight.targets, resumed.targets):
        assert np.allclose(ba, bb) and np.array_equal(la, lb)
    assert len(straight.targets[0][0]) >= len(ds.images[0].boxes)  # 3x3 canvas carries the boxes of 9 sources


@pytest.mark.slow
def test_changing_a_reporting_option_keeps_the_resume_state(setup, tmp_path):
    """snapshots and checkpoint_every change what is saved, not the pixels: a killed forge resumes under them."""
    from dataclasses import replace

    ds, target = setup
    cfg = DCODConfig(iterations=8, forge_batch=3, checkpoint_every=4, lr=0.05, ipe=False)
    straight = forge(_slots(ds), target, cfg, seed=1, workdir=tmp_path / "a")
    with pytest.raises(_Kill):
        forge(_slots(ds), target, cfg, seed=1, workdir=tmp_path / "b", reporter=_KillingReporter(6))
    notes = []
    reporter = _KillingReporter(10**6)
    reporter.note = notes.append
    resumed = forge(
        _slots(ds),
        target,
        replace(cfg, snapshots=(8,), checkpoint_every=2),
        seed=1,
        workdir=tmp_path / "b",
        reporter=reporter,
    )
    assert any("resumed batch 1/1 at iteration 4" in n for n in notes)
    assert all(np.array_equal(a, b) for a, b in zip(straight.images, resumed.images))


@pytest.mark.slow
def test_dcod_end_to_end_and_plain_inversion(tmp_path):
    out = tmp_path / "runs"
    small = "shapes:?n_train=60&n_test=12&size=64&max_extent=28"
    base = [
        "run",
        "--method",
        "dcod",
        "--detector",
        "yolov3-tiny",
        "--ratio",
        "0.05",
        "--protocol",
        "smoke",
        "--dataset",
        small,
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert main(base + ["-O", "snapshots=0,4"]) == 0
    assert main(base + ["-O", "fbd=false", "-O", "ipe=false"]) == 0
    results = [json.loads(p.read_text()) for p in sorted(out.rglob("result.json"))]
    assert len(results) == 2
    # paired starts: DCOD forges exactly the images Random selects at the same seed
    assert main([*base[:2], "random", *base[3:]]) == 0
    random_ids = next(
        json.loads(p.read_text()) for p in out.rglob("manifest.json") if json.loads(p.read_text())["method"] == "random"
    )["selected_ids"]
    for r in results:
        assert r["condensed"]["manifest"]["initial_ids"] == random_ids
        assert r["condensed"]["manifest"]["paired_with"] == "random"
    full = next(r for r in results if r["condensed"]["manifest"]["options"]["fbd"])
    plain = next(r for r in results if not r["condensed"]["manifest"]["options"]["fbd"])
    assert plain["condensed"]["manifest"]["options"]["ipe"] is False
    assert full["budget"] == 3 and full["condensed"]["manifest"]["kind"] == "synthesis"
    assert full["condensed"]["manifest"]["options"]["iterations"] == 4  # from the smoke protocol, recorded
    assert full["teacher"]["source"] == "trained" and plain["teacher"]["source"] == "cached"
    assert {"fetch_s", "condense_s", "train_s"} <= set(full["timings"])
    cell = next(p.parent for p in out.rglob("result.json") if "fbd" not in p.parent.name)
    assert "snapshots" not in cell.name  # reporting options do not make a new cell
    condensed = cell / full["condensed"]["path"]  # beside the cells, shared by every cell that uses this set
    assert condensed.parent.parent.name == "condensed" and (condensed / "manifest.json").is_file()
    assert sorted(p.name for p in (condensed.parent / "snapshots").iterdir())[:1] == ["it00000_000.png"]
    assert main(["show", str(condensed), "--out", str(tmp_path / "grid.png")]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size[0] > 0
    # the cell's folder of the set (condensed/ with condense.json beside it) draws the same sheet
    assert main(["show", str(condensed.parent), "--out", str(tmp_path / "outer.png")]) == 0
    assert (tmp_path / "outer.png").read_bytes() == (tmp_path / "grid.png").read_bytes()


def test_unknown_method_flag_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["run", "--method", "dcod", "--no-fdb", "--protocol", "smoke", "--out", str(tmp_path), "--device", "cpu"])
        == 2
    )
    assert "unknown dcod option(s) fdb" in capsys.readouterr().err


@pytest.mark.slow
def test_crop_patchexpand_keeps_object_scale(setup, tmp_path):
    ds, target = setup
    sides = lambda boxes: np.sort(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))  # noqa: E731
    source_sides = np.concatenate([sides(load_source(ds, j, 64).boxes.numpy()) for j in range(16)])
    out = {}
    for fit in ("rescale", "crop"):
        cfg = DCODConfig(iterations=3, forge_batch=3, ipe_fit=fit, ipe_schedule="1:0,2:0.5")
        out[fit] = np.concatenate(
            [sides(b) for b, _ in forge(_slots(ds), target, cfg, seed=0, workdir=tmp_path / fit).targets]
        )
    # rescale halves every object at k = 2; crop keeps whole objects at their size (cut ones only get smaller)
    assert np.median(out["rescale"]) < 0.6 * np.median(source_sides)
    assert np.median(out["crop"]) > 0.8 * np.median(source_sides) and out["crop"].max() <= source_sides.max() + 1e-4


@pytest.mark.slow
def test_a_bf16_forge_stays_within_its_stated_tolerance_of_float32(setup, tmp_path):
    """The tolerance behind amp = "auto" (bf16 on GPUs): the images a bf16 forge makes differ from a float32 forge's
    by at most 2/255 on average, and their loss terms by a few per cent. Measured here on the CPU, whose autocast
    runs the same bfloat16 arithmetic."""
    ds, target = setup
    common = dict(iterations=20, forge_batch=3, lr=0.05, ipe=False, checkpoint_every=1000)
    full = forge(_slots(ds), target, DCODConfig(amp="off", **common), seed=0, workdir=tmp_path / "f32")
    half = forge(_slots(ds), target, DCODConfig(amp="bf16", **common), seed=0, workdir=tmp_path / "bf16")
    diff = np.mean([np.abs(a.astype(float) - b.astype(float)).mean() for a, b in zip(full.images, half.images)])
    assert 0 < diff <= 2.0, f"bf16 images differ from float32's by {diff:.2f}/255 on average"
    for term in ("det", "bn"):
        a, b = full.history[0][-1][term], half.history[0][-1][term]
        assert abs(a - b) <= 0.05 * abs(a) + 1e-3, f"{term}: float32 {a:.4f}, bf16 {b:.4f}"
