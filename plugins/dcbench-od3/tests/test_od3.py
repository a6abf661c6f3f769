import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dcbench_od3.plugin as plugin
from dcbench.api import Checkpoint, CondenseContext, Teacher
from dcbench.data.model import DetectionDataset, ImageRecord
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections
from dcbench.methods.selection import rng_for
from dcbench.plugins import hookimpl
from dcbench.protocols import get_protocol
from dcbench.testing import check_method, check_registers
from dcbench_od3.config import OD3Config
from dcbench_od3.crops import Crop
from dcbench_od3.method import OD3
from dcbench_od3.placement import locate, paste, place_crop, plain_canvas
from dcbench_od3.screening import final_items, screen
from dcbench_od3.synthesis import Run, synthesise

SMOKE = get_protocol("smoke")


def solid(h, w, colour=(10, 20, 30), label=0, margin=0):
    """A crop of one colour whose object box leaves ``margin`` px of context on every side."""
    box = np.array([margin, margin, w - margin, h - margin], np.float32)
    return Crop(np.full((h, w, 3), colour, np.uint8), box, label)


def put(canvas, crop, top, left):
    """Paste ``crop`` with its top-left corner at (top, left), bypassing the random draw."""
    placement = locate(canvas, crop, top + crop.pixels.shape[0] / 2, left + crop.pixels.shape[1] / 2)
    return paste(canvas, crop, placement)


def see(*found):
    """Detections for (box, label, score) triples."""
    if not found:
        return Detections.empty()
    boxes, labels, scores = zip(*found)
    return Detections(np.array(boxes, np.float32), np.array(scores), np.array(labels))


def handmade(folder: Path, n: int = 8, w: int = 48, h: int = 40) -> DetectionDataset:
    """``n`` small images, each with three coloured rectangles (classes a and b) on grey."""
    rng = rng_for(123)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for k in range(n):
        arr = np.full((h, w, 3), 128, np.uint8)
        boxes = []
        for _ in range(3):
            bw, bh = rng.integers(6, 16, size=2)
            x, y = rng.integers(0, w - bw), rng.integers(0, h - bh)
            arr[y : y + bh, x : x + bw] = rng.integers(0, 255, 3)
            boxes.append([x, y, x + bw, y + bh])
        Image.fromarray(arr).save(folder / f"{k}.png")
        images.append(ImageRecord(str(k), folder / f"{k}.png", w, h, boxes, [0, 1, k % 2], [False] * 3))
    return DetectionDataset("hand", ["a", "b"], images, source="hand")


def blind(canvases):
    return [Detections.empty() for _ in canvases]


def run_synthesis(ds, out, budget=2, seed=0, observe=blind, **options):
    run = Run(ds, OD3Config(**{"canvas": 48, **options}), seed, observe, out)
    return run, synthesise(run, budget)


# -- placement ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlap", [0.0, 0.3, 0.6])
def test_placement_respects_the_overlap_limit(overlap):
    canvas, cfg, rng = plain_canvas(40), OD3Config(overlap=overlap, tries=10), rng_for(7)
    accepted = 0
    for k in range(120):
        size = rng_for(7, k).integers(4, 14, size=2)
        before = canvas.owner >= 0
        placed = place_crop(canvas, solid(*size), rng, cfg)
        if placed is not None:
            y0, y1, x0, x1 = placed.region
            assert before[y0:y1, x0:x1].mean() <= overlap + 1e-9
            assert placed.occupied == pytest.approx(before[y0:y1, x0:x1].mean())
            accepted += 1
    assert 0 < accepted < 120 and canvas.counts["pasted"] == accepted
    assert canvas.counts["dropped"] == 120 - accepted and canvas.counts["objects"] == 120


def test_a_crop_that_cannot_be_placed_is_dropped_and_counted():
    canvas = plain_canvas(32)
    put(canvas, solid(32, 32), 0, 0)  # the whole canvas is occupied
    pixels = canvas.pixels.copy()
    assert place_crop(canvas, solid(8, 8), rng_for(0), OD3Config(overlap=0.0)) is None
    assert canvas.counts["dropped"] == 1 and canvas.counts["pasted"] == 0 and len(canvas.items) == 1
    assert (canvas.pixels == pixels).all()


def test_a_crop_hanging_over_the_edge_is_cut_with_its_box():
    canvas = plain_canvas(32)
    placement = locate(canvas, solid(10, 10, margin=2), 0.0, 31.0)  # centre on the top-right corner
    assert placement.region == (0, 5, 26, 32)
    assert placement.box.tolist() == [28.0, 0.0, 32.0, 3.0]


# -- screening ---------------------------------------------------------------------------------------------------


def two_objects():
    canvas = plain_canvas(64)
    a = put(canvas, solid(16, 16, (200, 0, 0), label=0), 4, 4)
    b = put(canvas, solid(16, 16, (0, 200, 0), label=1), 40, 40)
    return canvas, a, b


@pytest.mark.parametrize("classes", ["aware", "agnostic"])
def test_screening_erases_what_the_observer_misses_and_keeps_what_it_sees(classes):
    canvas, a, b = two_objects()
    cfg = OD3Config(screen_classes=classes, fill_floor=0.0)
    assert screen(canvas, see(([5, 5, 19, 19], 0, 0.9)), cfg) == 1
    assert canvas.items[a].alive and not canvas.items[b].alive
    assert (canvas.pixels[40:56, 40:56] == 255).all() and (canvas.owner[40:56, 40:56] == -1).all()
    assert canvas.memory == [(48.0, 48.0)] and canvas.counts["erased"] == 1


@pytest.mark.parametrize("classes, kept", [("aware", False), ("agnostic", True)])
def test_class_aware_screening_needs_the_right_class(classes, kept):
    canvas, a, b = two_objects()
    cfg = OD3Config(screen_classes=classes, fill_floor=0.0)
    # the observer finds both boxes but calls a "b"; a low-score prediction does not count
    screen(canvas, see(([4, 4, 20, 20], 1, 0.9), ([40, 40, 56, 56], 1, 0.9), ([40, 40, 56, 56], 0, 0.1)), cfg)
    assert canvas.items[a].alive is kept and canvas.items[b].alive


@pytest.mark.parametrize("floor", [0.3, 0.25])
def test_the_fill_floor_stops_erasing(floor):
    canvas = plain_canvas(32)
    for top, left in ((0, 0), (0, 16), (16, 0)):  # three quarters of the canvas
        put(canvas, solid(16, 16), top, left)
    # erasing the first leaves 0.5; the second would leave 0.25, at or below the floor: the pass stops there
    assert screen(canvas, see(), OD3Config(fill_floor=floor)) == 1
    assert canvas.alive() == [1, 2] and canvas.occupied() == 0.5 and canvas.counts["floor_stops"] == 1


def test_erasing_restores_only_what_the_object_still_shows():
    canvas = plain_canvas(32)
    under = put(canvas, solid(12, 12, (1, 1, 1)), 0, 0)
    over = put(canvas, solid(12, 12, (2, 2, 2)), 6, 6)
    screen(canvas, see(([6, 6, 18, 18], 0, 0.9)), OD3Config(fill_floor=0.0))
    assert not canvas.items[under].alive and canvas.items[over].alive
    assert (canvas.pixels[6:18, 6:18] == 2).all() and (canvas.pixels[0:6, 0:6] == 255).all()


def test_a_box_hidden_by_later_pastes_is_dropped_and_counted():
    canvas = plain_canvas(32)
    hidden = put(canvas, solid(8, 8), 0, 0)
    cover = put(canvas, solid(10, 10), 0, 0)
    other = put(canvas, solid(8, 8), 20, 20)
    assert canvas.visible_fraction(hidden) == 0.0
    assert final_items(canvas, OD3Config()) == [cover, other] and canvas.counts["hidden"] == 1


# -- synthesis ---------------------------------------------------------------------------------------------------


def test_observer_labels_replace_the_pasted_boxes(tmp_path):
    ds = handmade(tmp_path / "data")

    def observer(canvases):
        return [see(([2, 2, 20, 20], 1, 0.9), ([30, 30, 40, 40], 0, 0.1), ([40, 40, 60, 60], 0, 0.8)) for _ in canvases]

    _run, results = run_synthesis(ds, tmp_path / "out", observe=observer, screen=False, labels="observer")
    for r in results:
        assert r.boxes.tolist() == [[2, 2, 20, 20], [40, 40, 48, 48]] and r.labels.tolist() == [1, 0]
        assert r.counts["final_boxes"] == 2 and r.counts["kept"] > 0


def test_synthesis_is_deterministic_per_seed(tmp_path):
    ds = handmade(tmp_path / "data")
    runs = {
        name: run_synthesis(ds, tmp_path / name, seed=seed, fill_floor=0.05)[1]
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    }

    def fingerprint(results):
        return [(r.file.read_bytes(), r.boxes.tolist(), r.labels.tolist()) for r in results]

    assert fingerprint(runs["a"]) == fingerprint(runs["b"])
    assert fingerprint(runs["a"]) != fingerprint(runs["c"])
    counts = runs["a"][0].counts
    assert counts["pasted"] + counts["dropped"] == counts["objects"] == 12  # 4 images of 3 boxes per canvas
    assert counts["erased"] > 0 and counts["screen_passes"] == 4  # every image, the last one included


def test_screen_every_and_the_final_pass(tmp_path):
    ds = handmade(tmp_path / "data")
    _run, results = run_synthesis(ds, tmp_path / "a", budget=1, screen_every=3)
    assert results[0].counts["screen_passes"] == 3  # after images 3 and 6 of 8, and after the last
    _run, results = run_synthesis(ds, tmp_path / "b", budget=1, screen_every=4, screen_final=False)
    assert results[0].counts["screen_passes"] == 1  # after image 4; not after 8, as the code


class FakeBackend:
    """A detector backend whose predict sees nothing and records how it was called."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def predict(self, checkpoint, dataset, *, protocol, device, reporter=None):
        assert all(im.file.is_file() for im in dataset.images)
        self.calls.append(len(dataset))
        return [Detections.empty() for _ in dataset.images]


def test_the_teacher_observer_batches_canvases_into_one_predict_call(tmp_path):
    ds = handmade(tmp_path / "data", n=12)
    backend = FakeBackend()
    teacher = Teacher(backend, Checkpoint("fake", tmp_path / "weights.pt"), SMOKE, "cpu")
    work = tmp_path / "work"
    cs = OD3(canvas=48).condense(ds, 3, context=CondenseContext(teacher, 0, work, SMOKE, "cpu"))
    assert backend.calls == [3, 3, 3, 3]  # one call per pass (4 images per canvas), all canvases in it
    assert sorted(p.name for p in work.iterdir()) == ["condensed"]  # temporary canvases are gone
    assert cs.manifest["teacher"] == {"detector": "fake", "checkpoint": str(tmp_path / "weights.pt")}


def test_manifest_records_options_choices_counts_and_timings(tmp_path):
    ds = handmade(tmp_path / "data")
    cs = Blind(background="image").condense(ds, 2, context=CondenseContext(None, 3, tmp_path / "w", SMOKE, "cpu"))
    m = cs.manifest
    assert (m["method"], m["kind"], m["budget"], m["seed"], m["n_train"]) == ("od3", "synthesis", 2, 3, 8)
    assert m["options"] == {**OD3().describe(), "canvas": 64, "background": "image"}
    assert {"slice_order", "memory", "covered_boxes", "erase", "background"} <= set(m["choices"])
    assert m["slices"]["images_per_canvas"] == 4 and m["labels"] == "pasted"
    assert [c["final_boxes"] for c in m["per_canvas"]] == [im.n_boxes for im in cs.dataset.images]
    assert {"synthesis_s", "screen_s"} <= set(m["timings"]) and m["source_fingerprint"] == ds.fingerprint()
    assert all(c["background"] for c in m["per_canvas"])
    assert cs.dataset.images[0].width == 64  # the smoke protocol's image size


# -- options and contract ----------------------------------------------------------------------------------------


def test_options_are_validated_and_described():
    described = OD3().describe()
    assert described["overlap"] == 0.6 and described["margin"] == "dynamic" and described["canvas"] is None
    assert set(described) == {f for f in OD3Config.__dataclass_fields__} | {"version"}
    assert OD3(screen="false", overlap=1).describe()["screen"] is False
    with pytest.raises(ConfigError, match=r"unknown od3 option\(s\) overlapp .*known: .*overlap"):
        OD3(overlapp=0.5)
    for bad in ({"margin": "wide"}, {"overlap": 2}, {"tries": 0}, {"screen_classes": "any"}, {"max_crop": 0}):
        with pytest.raises(ConfigError):
            OD3(**bad)


def test_without_a_teacher_an_observer_is_a_clear_error(tmp_path):
    context = CondenseContext(None, 0, tmp_path, SMOKE, "cpu")
    with pytest.raises(ConfigError, match="needs a teacher"):
        OD3().condense(handmade(tmp_path / "data"), 2, context=context)


def test_a_teacher_is_needed_only_when_the_observer_is_asked():
    assert OD3().requires_teacher and OD3(screen=False, labels="observer").requires_teacher
    assert not OD3(screen=False).requires_teacher


def test_without_screening_and_with_pasted_labels_od3_runs_teacher_free(tmp_path, dcbench_cache):
    """The kit gives a teacher-free method no teacher: the unscreened variant must condense without one."""
    check_method("od3", tmp_path, plugin=plugin, budgets=(2,), options={"screen": False})


class Blind(OD3):
    """OD3 with an observer that sees nothing: teacher-free, so the kit's method check can run it."""

    requires_teacher = False

    def observer(self, context, categories):
        return blind


class BlindPlugin:
    __name__ = "od3-blind-test-plugin"

    @hookimpl
    def dcbench_register_methods(self, registry):
        registry.add("od3-blind", Blind, "OD3 with a blind observer (tests only)")


def test_contract(tmp_path, dcbench_cache):
    check_registers(plugin, methods=["od3"])
    check_method("od3-blind", tmp_path, plugin=BlindPlugin(), bad_options={"margin": "wide"})
    check_method(
        "od3-blind",
        tmp_path / "variant",
        plugin=BlindPlugin(),
        budgets=(3,),
        options={"background": "image", "margin": "fixed", "screen_classes": "agnostic"},
    )


@pytest.mark.slow
def test_contract_with_a_real_smoke_teacher_as_observer(tmp_path, dcbench_cache):
    """The kit trains a real (smoke) teacher and OD3 screens and relabels with it through the backend's predict."""
    pytest.importorskip("ultralytics")
    from dcbench.testing import smoke_teacher, tiny_dataset

    ds = tiny_dataset()
    teacher = smoke_teacher(ds.split("train"), tmp_path / "teacher")
    check_method("od3", tmp_path / "pasted", plugin=plugin, dataset=ds, budgets=(2,), teacher=teacher)
    check_method(
        "od3",
        tmp_path / "observer",
        plugin=plugin,
        dataset=ds,
        budgets=(2,),
        teacher=teacher,
        options={"labels": "observer", "label_score": 0.0},
    )


def test_show_draws_the_condensed_set(tmp_path):
    from dcbench.cli.app import main

    context = CondenseContext(None, 0, tmp_path / "w", SMOKE, "cpu")
    cs = Blind().condense(handmade(tmp_path / "data"), 2, context=context)
    assert main(["show", str(cs.path), "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((cs.path / "manifest.json").read_text())["method"] == "od3"


def test_plugin_is_listed_when_installed():
    from dcbench.plugins.manager import build_registries

    regs = build_registries()
    if "od3" not in regs.methods:
        pytest.skip("dcbench-od3 is not installed (pip install -e plugins/dcbench-od3)")
    assert regs.methods.entry("od3").source == "od3"
