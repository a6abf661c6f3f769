"""Score any set of images with boxes the way a cell scores its condensed set (``dcbench eval``).

The set is a dcbench condensed set (a cell's ``OUT/condensed/<name>/``, its inner ``condensed/`` folder, or an
imported one) or any dataset spec (``coco:FILE.json``, ``yolo:DIR``, ``voc:DIR``; its train split when it has one,
else all of it). Students are trained by the harness's own path (:func:`dcbench.harness.cell.train_students`) and
scored by the same evaluator on the same test split, so a cell's condensed set evaluated with the cell's detector,
protocol and seed gives the cell's metrics exactly.

The result is a cell's :class:`~dcbench.api.ResultRecord` with the method ``external``: the set's content
fingerprint (image bytes and annotations), the budget (its images), the ratio against ``--train`` when one is given
(none otherwise), and a warning when one of its images is byte-identical to a test image.

What a condensed set says of itself is checked before it is trained on: its manifest's shape and claims, and an
imported set's card (:mod:`dcbench.artifacts.claims`), so the method a result records as having made the set
(``made_by``) is the one its manifest and card agree on.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcbench.artifacts.card import CARD
from dcbench.artifacts.claims import check_fingerprint, nominal_ratio
from dcbench.artifacts.content import content_fingerprint, image_digests, shared_images
from dcbench.artifacts.locate import condensed_dir, require_condensed_dir, set_name
from dcbench.data.model import DetectionDataset
from dcbench.data.spec import TrainTest, dataset_identity, load_dataset, parse_spec, resolve_train_test, split_options
from dcbench.errors import ConfigError
from dcbench.harness.cell import (
    missing_classes,
    missing_classes_note,
    results_lock,
    score_students,
    timed,
    train_students,
)
from dcbench.harness.identity import make_detector
from dcbench.harness.provenance import run_provenance
from dcbench.io import exclusive
from dcbench.protocols import Protocol
from dcbench.results import ResultRecord, build_result, write_result

log = logging.getLogger(__name__)

EXTERNAL_METHOD = "external"  # the method name external results carry; their table row is "external:<set name>"
LEAKS_RECORDED = 20  # image pairs listed in a result; the count is always complete


@dataclass
class EvalConfig:
    """What ``dcbench eval`` was asked: the set, the detector that trains on it, and where the test set comes from."""

    set_spec: str
    detector: str
    protocol: Protocol
    seed: int
    train: str | None = None  # the dataset the set stands for: the ratio's denominator and, without --test, the test
    test: str | None = None


@dataclass
class ExternalSet:
    name: str  # how tables call it: the condensed set's folder, or the dataset's identity
    spec: str  # as given (a folder resolved to an absolute path)
    dataset: DetectionDataset
    path: Path | None = None  # the condensed set folder, when it is one
    manifest: dict = field(default_factory=dict)  # a condensed set's manifest (how it was made), else empty
    card: dict | None = None  # an imported set's dataset card, parsed


@dataclass
class EvalInputs:
    """Everything an evaluation reads before training, so that every error comes before the first epoch."""

    config: EvalConfig
    external: ExternalSet
    detector: Any
    train: DetectionDataset  # what the students train on
    test: DetectionDataset
    reference: TrainTest | None  # the --train dataset's train/test split, as a cell on it would use
    how: str
    fingerprint: str
    leaks: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    dataset_id: str | None = None  # the --train dataset's identity (cells on it are named and tabled by it)
    test_id: str | None = None
    load_s: float = 0.0

    @property
    def budget(self) -> int:
        return len(self.train)

    @property
    def effective_ratio(self) -> float | None:
        return self.budget / len(self.reference.train) if self.reference else None

    @property
    def ratio(self) -> float | None:
        return nominal_ratio(self.budget, len(self.reference.train)) if self.reference else None

    def cell_name(self) -> str:
        cfg = self.config
        data = ([self.dataset_id] if self.dataset_id else []) + ([f"test-{self.test_id}"] if self.test_id else [])
        parts = data + [f"external-{self.external.name}-{self.fingerprint[:8]}", cfg.detector, f"s{cfg.seed}"]
        parts.append(cfg.protocol.protocol_id)
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", "__".join(parts)).strip("_")


def load_external_set(spec: str) -> ExternalSet:
    """A condensed set folder (found by its manifest) or, for anything else, a dataset spec."""
    from dcbench.condensed import load_condensed

    path = Path(spec).expanduser()
    found = condensed_dir(path) if path.is_dir() else None
    if found is None and path.is_dir() and ":" not in spec:
        # a folder that is not (or not yet) a condensed set: its one-line error, and how a dataset folder is given
        require_condensed_dir(path, hint="; a dataset folder is given as voc:DIR or yolo:DIR")
    if found is not None:
        cs = load_condensed(found)
        return ExternalSet(set_name(found), str(found.resolve()), cs.dataset, found.resolve(), cs.manifest, cs.card)
    dataset = load_dataset(spec)
    return ExternalSet(_spec_name(spec, dataset), spec, dataset)


def _spec_name(spec: str, dataset: DetectionDataset) -> str:
    """``coco-set.json`` for ``coco:dir/set.json?images=...``: the format and the file or folder, without the
    options (a path in them would make the table's row name a path); a generated dataset is its identity."""
    name, arg = parse_spec(spec)
    path, _ = split_options(arg)
    if path is not None and Path(path).expanduser().exists():
        return f"{name}-{Path(path).expanduser().resolve().name}"
    return dataset_identity(spec, dataset)


def prepare_external(config: EvalConfig) -> EvalInputs:
    t0 = time.perf_counter()
    detector = make_detector(config.detector)
    external = load_external_set(config.set_spec)
    train_ds = load_dataset(config.train) if config.train else None
    test_ds = load_dataset(config.test) if config.test else None
    if train_ds is None and test_ds is None:
        raise ConfigError(
            f"{config.set_spec}: no test set to score it on: give --test SPEC, or --train SPEC (the dataset the set "
            f"was made from; its test split is used)"
        )
    reference = resolve_train_test(train_ds, test_ds) if train_ds is not None else None
    # the set against the harness's test split (or --test's): the test's classes are mapped onto the set's
    pair = resolve_train_test(external.dataset, reference.test if reference is not None else test_ds)
    digests = image_digests(pair.train)
    fingerprint = content_fingerprint(pair.train, digests)
    if external.path is not None and pair.train is external.dataset:
        # the card's other claims were checked when the set loaded; this one needs the image bytes, hashed here
        check_fingerprint(external.path / CARD, external.card, fingerprint)
    trained_on = "all of it" if len(pair.train) == len(external.dataset) else "its train split"
    how = f"set {external.spec} ({trained_on}); test: " + (reference.how if reference is not None else pair.how)
    inputs = EvalInputs(
        config,
        external,
        detector,
        pair.train,
        pair.test,
        reference,
        how,
        fingerprint,
        shared_images(pair.train, digests, pair.test),
        dataset_id=dataset_identity(config.train, train_ds) if config.train else None,
        test_id=dataset_identity(config.test, test_ds) if config.test else None,
    )
    inputs.notes.extend(_notes(inputs))
    inputs.load_s = round(time.perf_counter() - t0, 3)
    return inputs


def _notes(inputs: EvalInputs) -> list[str]:
    """Warnings the result records, each logged as one line: leakage, and a set made from another train set."""
    notes = []
    if inputs.leaks:
        examples = ", ".join(f"{a} = test {b}" for a, b in inputs.leaks[:3])
        notes.append(
            f"leakage: {len(inputs.leaks)} image(s) of set {inputs.external.name} are byte-identical to test images "
            f"({examples}{', ...' if len(inputs.leaks) > 3 else ''}); its score is not a held-out score"
        )
    source = inputs.external.manifest.get("source_fingerprint")
    if inputs.reference is not None and source and source != inputs.reference.train.fingerprint():
        notes.append(
            f"set {inputs.external.name} was condensed from another train set (fingerprint {source}) than --train "
            f"{inputs.config.train} ({inputs.reference.train.fingerprint()}); its ratio is taken against --train"
        )
    if inputs.reference is not None and inputs.budget > len(inputs.reference.train):
        notes.append(f"set {inputs.external.name} has more images ({inputs.budget}) than --train's train split")
    for note in notes:
        log.warning(note)
    return notes


def run_external(inputs: EvalInputs, out_root: Path, *, device: str, reporter=None) -> ResultRecord:
    """Train ``protocol.student_repeats`` students on the set (:func:`prepare_external`), score them, and write
    ``OUT/<name>/result.json``."""
    from dcbench.progress import Reporter

    reporter = reporter or Reporter()
    config = inputs.config
    timings: dict[str, float] = {"load_s": inputs.load_s}
    cell_dir = Path(out_root) / inputs.cell_name()
    lock = results_lock(out_root, f"cell-{cell_dir.name}")  # the lock run_cell takes: one writer per cell folder
    with exclusive(lock, note=reporter.note, waiting=f"another process is evaluating {cell_dir.name}: waiting"):
        with timed(timings, "total_s"):
            cell_dir.mkdir(parents=True, exist_ok=True)
            common = {"protocol": config.protocol, "device": device, "reporter": reporter, "timings": timings}
            students, student = train_students(
                inputs.detector, inputs.train, seed=config.seed, cell_dir=cell_dir, **common
            )
            per_student = score_students(inputs.detector, students, inputs.test, cell_dir=cell_dir, **common)
        timings["total_s"] = round(timings.pop("total_s") + timings.get("load_s", 0.0), 3)
        result = external_record(inputs, cell_dir, student, per_student, timings, device)
        whole = inputs.reference.train if inputs.reference is not None else inputs.train  # what the set stands for
        result["classes"] = missing_classes(TrainTest(whole, inputs.test, inputs.how), inputs.train)
        if result["classes"]["without_box_in_set"]:
            result["warnings"].append(missing_classes_note(result["classes"]))
            reporter.note(f"warning: {result['warnings'][-1]}")
        write_result(cell_dir, result)
    return result


def external_record(
    inputs: EvalInputs, cell_dir: Path, student: dict, per_student: list[dict], timings: dict, device: str
) -> ResultRecord:
    """The result file: a cell's record, with the set where a cell has its method and condensed set."""
    import os

    import dcbench
    from dcbench.detectors.base import describe

    ext = inputs.external
    ratio = {} if inputs.effective_ratio is None else {"effective_ratio": inputs.effective_ratio}
    return build_result(
        inputs.cell_name(),
        _config(inputs),
        plugin={"name": "dcbench", "version": dcbench.__version__, "plugin": "dcbench eval (an external set)"},
        method={
            "name": EXTERNAL_METHOD,
            "variant": {"set": ext.name},
            "options": {"set": ext.spec, "fingerprint": inputs.fingerprint, "made_by": ext.manifest.get("method")},
            "label": f"{EXTERNAL_METHOD}:{ext.name}",  # the leaderboard's row name
            "fixed_set": True,  # the seed does not choose its images: compared with Random unpaired (Welch)
        },
        detector=describe(inputs.detector),
        eval_detector=describe(inputs.detector),
        data=_data(inputs),
        budget=inputs.budget,
        **ratio,
        warnings=list(inputs.notes),
        teacher=None,
        condensed={
            "path": os.path.relpath(ext.path, cell_dir) if ext.path else None,
            "spec": ext.spec,
            "images": inputs.budget,
            "boxes": inputs.train.n_boxes,
            "fingerprint": inputs.fingerprint,
            "external": True,
            "leakage": {"count": len(inputs.leaks), "pairs": [list(p) for p in inputs.leaks[:LEAKS_RECORDED]]},
            "manifest": ext.manifest or {"kind": "external", "source": ext.spec},
        },
        student=student,
        timings=timings,
        per_student=per_student,
        provenance=run_provenance(device),
    )


def _config(inputs: EvalInputs) -> dict:
    """A cell's config, as far as it applies: no method options, no teacher; ``ratio`` None without --train."""
    cfg = inputs.config
    return {
        "method": EXTERNAL_METHOD,
        "detector": cfg.detector,
        "ratio": inputs.ratio,
        "seed": cfg.seed,
        "protocol": cfg.protocol.as_dict(),
        "dataset": cfg.train,
        "test_dataset": cfg.test,
        "eval_detector": None,
        "method_options": {},
        "teacher_checkpoint": None,
        "dataset_id": inputs.dataset_id,
        "external_set": inputs.external.spec,
    }


def _data(inputs: EvalInputs) -> dict:
    ref = inputs.reference
    return {
        "train": len(ref.train) if ref else None,
        "test": len(inputs.test),
        "how": inputs.how,
        "categories": list(inputs.train.categories),
        "train_fingerprint": ref.train.fingerprint() if ref else None,
        "test_fingerprint": inputs.test.fingerprint(),
        "set_fingerprint": inputs.fingerprint,
    }
