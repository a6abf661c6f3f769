"""Contract checks a plugin author runs against their own method or dataset.

Each check raises ``AssertionError`` with a message saying which part of the contract failed, so it reads well
under pytest and in a plain script.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from dcbench.data.model import DetectionDataset
from dcbench.errors import DcbenchError
from dcbench.methods.base import needs_teacher


def tiny_dataset(*, n_train: int = 24, n_test: int = 6, size: int = 64, empty_class: bool = True) -> DetectionDataset:
    """A small generated dataset with ``train``/``test`` splits. With ``empty_class`` the category list ends with
    a class that no box uses, as real datasets have (a method must survive it)."""
    from dcbench.data.shapes import ShapesConfig, shapes_dataset

    ds = shapes_dataset(ShapesConfig(n_train=n_train, n_test=n_test, size=size, max_extent=min(28, size // 2)))
    if empty_class:
        ds = replace(ds, categories=[*ds.categories, "unused-class"])
    return ds


def check_registers(plugin: Any, *, methods=(), detectors=(), datasets=()) -> None:
    """The plugin registers the given names cleanly (no clash with the built-ins, no error), lazily."""
    from dcbench.plugins.manager import build_registries

    regs = build_registries(autoload=False, extra=(plugin,))
    assert not regs.problems, f"the plugin reported problems: {[str(p) for p in regs.problems]}"
    for kind, names in (("methods", methods), ("detectors", detectors), ("datasets", datasets)):
        registry = regs.by_kind(kind)
        for name in names:
            assert name in registry, f"{kind[:-1]} {name!r} is not registered (registered: {registry.names()})"
            entry = registry.entry(name)
            assert entry.description, f"{kind[:-1]} {name!r} has no description for `dcbench list`"
            registry.load(name)  # imports and checks the target against the kind's protocol


def _registries(plugin: Any | None):
    """Fresh registries: with ``plugin`` registered explicitly, or as installed (entry points)."""
    from dcbench.plugins.manager import build_registries

    return build_registries(autoload=plugin is None, extra=(plugin,) if plugin is not None else ())


def smoke_teacher(train: DetectionDataset, workdir: str | Path, *, detector: str = "yolov3-tiny"):
    """A real Fetch teacher in seconds: ``detector`` trained on ``train`` at the ``smoke`` protocol (its quality is
    nil; what a method does with the teacher's backend -- features, predict, inversion -- runs for real)."""
    from dcbench.api import Teacher
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    backend, protocol = make_detector(detector), get_protocol("smoke")
    checkpoint = backend.train(train, protocol=protocol, seed=0, workdir=Path(workdir), device="cpu")
    return Teacher(backend, checkpoint, protocol, "cpu")


def _condense(
    name: str, options: dict, train: DetectionDataset, budget: int, seed: int, workdir: Path, regs, teacher=None
):
    from dcbench.api import CondenseContext
    from dcbench.harness.identity import make_method
    from dcbench.protocols import get_protocol

    method = make_method(name, options, regs)
    needs = needs_teacher(method)
    assert teacher is not None or not needs, "the method needs a teacher: pass one (see smoke_teacher)"
    context = CondenseContext(teacher if needs else None, seed, workdir, get_protocol("smoke"), "cpu")
    return method.condense(train, budget, context=context)


def check_method(
    name: str,
    workdir: str | Path,
    *,
    plugin: Any | None = None,
    options: dict | None = None,
    dataset: DetectionDataset | None = None,
    budgets: tuple[int, ...] = (1, 5),
    bad_options: dict | None = None,
    teacher: Any | None = None,
) -> None:
    """A registered method honours the contract (``plugin``: your plugin module, registered explicitly; without
    it the method is looked up among the installed plugins). A method that ``requires_teacher`` gets ``teacher``,
    or, when none is given, a real one trained at the smoke protocol on the dataset (:func:`smoke_teacher`,
    needs the ``yolo`` extra):

    * returns exactly ``budget`` images for each budget, no image twice;
    * writes a condensed set that loads back (COCO JSON, YOLO labels, manifest with method, budget and seed),
      with the dataset's categories and boxes inside their images;
    * is deterministic per seed: the same seed gives the same files byte for byte (the manifest's timings aside);
    * survives a class without any box (the tiny dataset has one);
    * rejects an unknown option with a dcbench error (a clear one-line message), not a traceback.
    """
    from dcbench.condensed import load_condensed
    from dcbench.harness.identity import make_method

    workdir = Path(workdir)
    regs = _registries(plugin)
    options = options or {}
    ds = dataset or tiny_dataset()
    train = ds.split("train") if "train" in ds.splits else ds

    if teacher is None and needs_teacher(make_method(name, options, regs)):
        teacher = smoke_teacher(train, workdir / "teacher")
    for budget in budgets:
        cs = _condense(name, options, train, budget, 0, workdir / f"b{budget}-a", regs, teacher)
        assert len(cs) == budget, f"budget {budget}: the method returned {len(cs)} images"
        loaded = load_condensed(cs.path)
        assert loaded.dataset.categories == train.categories, "the condensed set changed the category list"
        for key in ("method", "budget", "seed"):
            assert key in loaded.manifest, f"manifest.json lacks {key!r}"
        assert loaded.manifest["budget"] == budget and loaded.manifest["seed"] == 0
        for im in loaded.dataset.images:
            if im.n_boxes:
                assert (
                    (im.boxes[:, :2] >= -1e-3).all()
                    and (im.boxes[:, 2] <= im.width + 1e-3).all()
                    and (im.boxes[:, 3] <= im.height + 1e-3).all()
                ), f"{im.file}: a box lies outside the image"
        ids = loaded.manifest.get("selected_ids")
        if ids is not None:
            assert len(set(ids)) == len(ids) == budget, "the selection contains an image twice"
        again = _condense(name, options, train, budget, 0, workdir / f"b{budget}-b", regs, teacher)
        _same_files(cs.path, again.path)
    try:
        make_method(name, bad_options or {"no_such_option_xyz": 1}, regs)
    except DcbenchError:
        pass
    else:
        raise AssertionError(f"method {name!r} accepted an unknown option instead of raising a dcbench error")


def _same_files(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b, "the same seed produced different file lists"
    for rel in files_a:
        if rel.name != "manifest.json":
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), f"the same seed produced a different {rel}"


def check_dataset(
    name: str, arg: str | None, *, bad_arg: str | None = "/nonexistent/dcbench-test-path", plugin: Any | None = None
) -> DetectionDataset:
    """A registered dataset loads through its spec, validates, and is stable:

    * returns a non-empty DetectionDataset with unique category names and boxes inside their images;
    * every label indexes a category; ignore flags are booleans of the right length;
    * loading twice gives the same fingerprint;
    * a bad argument fails with a DatasetError (one line naming the file), not a traceback.

    ``plugin``: your plugin module, registered explicitly; without it the dataset is looked up among the installed
    plugins.
    """
    from dcbench.errors import DatasetError

    spec = name if arg is None else f"{name}:{arg}"
    loader = _registries(plugin).datasets.load(name)

    def load_dataset(spec_: str) -> DetectionDataset:
        ds_ = loader(spec_.partition(":")[2] if ":" in spec_ else None)
        assert isinstance(ds_, DetectionDataset), f"{name}: the loader returned {type(ds_).__name__}"
        return ds_

    ds = load_dataset(spec)
    assert isinstance(ds, DetectionDataset) and len(ds) > 0, f"{spec}: no images"
    assert len(set(ds.categories)) == len(ds.categories), f"{spec}: duplicate category names"
    for im in ds.images:
        assert im.file.is_file(), f"{im.file}: image file missing"
        if im.n_boxes:
            assert (im.labels >= 0).all() and (im.labels < ds.num_classes).all(), f"{im.file}: label out of range"
            assert ((im.boxes[:, 2] > im.boxes[:, 0]) & (im.boxes[:, 3] > im.boxes[:, 1])).all(), (
                f"{im.file}: empty box"
            )
            assert (
                (im.boxes >= -1e-3).all()
                and (im.boxes[:, [0, 2]] <= im.width + 1e-3).all()
                and (im.boxes[:, [1, 3]] <= im.height + 1e-3).all()
            ), f"{im.file}: box outside the image"
        assert im.ignore.dtype == np.bool_ and len(im.ignore) == im.n_boxes
    assert load_dataset(spec).fingerprint() == ds.fingerprint(), f"{spec}: two loads differ"
    if bad_arg is not None:
        try:
            load_dataset(f"{name}:{bad_arg}")
        except DatasetError as exc:
            assert "\n" not in str(exc), "the error message spans several lines"
        else:
            raise AssertionError(f"{name}:{bad_arg} loaded instead of raising a DatasetError")
    return ds


def check_detector(
    name: str,
    workdir: str | Path,
    *,
    plugin: Any | None = None,
    arg: str | None = None,
    dataset: DetectionDataset | None = None,
) -> None:
    """A registered detector backend honours the contract, end to end at the ``smoke`` protocol on tiny data:

    * ``train`` returns a Checkpoint whose file exists;
    * ``predict`` returns one Detections per image, boxes inside the image, labels that index a category;
    * ``features`` returns an (N, D) finite float32 array;
    * ``inversion_target`` gives a frozen module whose loss is a finite scalar with a gradient on the images.
    """
    import torch

    from dcbench.protocols import get_protocol

    regs = _registries(plugin)
    cls = regs.detectors.load(name)
    backend = cls(arg) if arg is not None else cls()
    ds = dataset or tiny_dataset(empty_class=False)
    train, test, smoke = ds.split("train"), ds.split("test"), get_protocol("smoke")
    ckpt = backend.train(train, protocol=smoke, seed=0, workdir=Path(workdir), device="cpu")
    assert Path(ckpt.path).is_file(), f"train returned {ckpt.path}, which does not exist"
    dets = backend.predict(ckpt, test, protocol=smoke, device="cpu")
    assert len(dets) == len(test), f"predict returned {len(dets)} entries for {len(test)} images"
    for det, im in zip(dets, test.images):
        if len(det):
            assert (det.boxes[:, [0, 2]] >= -1).all() and (det.boxes[:, [0, 2]] <= im.width + 1).all(), (
                f"{im.file}: a predicted box lies outside the image (not in original-image pixels?)"
            )
            assert (det.labels >= 0).all() and (det.labels < test.num_classes).all(), "a label indexes no category"
    feats = backend.features(ckpt, test, protocol=smoke, device="cpu")
    assert feats.ndim == 2 and feats.shape[0] == len(test) and feats.dtype == np.float32, f"features {feats.shape}"
    assert np.isfinite(feats).all(), "features contain NaN or inf"
    target = backend.inversion_target(ckpt, protocol=smoke, device="cpu")
    size = target.image_size
    images = torch.rand(2, 3, size, size, requires_grad=True)
    box = torch.tensor([[size * 0.2, size * 0.2, size * 0.6, size * 0.6]])
    loss = target.loss(images, [(box, torch.tensor([0])), (box, torch.tensor([0]))])
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss), f"inversion loss {loss}"
    assert images.grad is not None and images.grad.abs().sum() > 0, "the inversion loss has no gradient on the images"
    assert not any(p.requires_grad for p in target.module.parameters()), "the inversion module is not frozen"
