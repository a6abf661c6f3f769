"""One cell of the benchmark: condense a train set, train a fresh detector on the result, score it on the real
test set, and write one ``result.json``.

The result file is the unit of resumption: it is written atomically at the very end, so its presence means the
cell is finished, and nothing else in the cell folder is trusted without it.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dcbench.api import CondenseContext
from dcbench.budget import budget_for
from dcbench.data.spec import TrainTest, load_dataset, resolve_train_test
from dcbench.errors import ConfigError
from dcbench.harness.identity import CellConfig, make_detector, make_method
from dcbench.harness.labels import check_distillation
from dcbench.harness.provenance import run_provenance
from dcbench.harness.staleness import current_settings, settings_drift
from dcbench.io import atomic_write_text, exclusive, waiting_for_locks
from dcbench.methods.base import needs_teacher
from dcbench.progress import Reporter
from dcbench.results import (
    DISTILL,
    FULL_KIND,
    RESULT_FILE,
    STORED,
    TEACHER,
    ResultRecord,
    build_result,
    prediction_files,
    read_result_record,
    write_result,
)

log = logging.getLogger(__name__)

__all__ = [
    "condense_cell",
    "prepare",
    "run_cell",
    "score_students",
    "train_students",
]


def _method_provider(method: str) -> dict:
    """The distribution (name, version) that registered ``method``: a third-party method's package is recorded."""
    from dcbench.plugins.manager import get_registries

    return get_registries().provider("methods", method)


CONDENSED_ROOT = "condensed"  # condensed sets live beside the cells, shared by every cell that needs the same set


@dataclass
class CellInputs:
    """What a cell reads before it does anything expensive: built once, so errors surface before training."""

    method: Any
    detector: Any
    evaluator: Any
    split: Any
    budget: int
    notes: list[str]
    images: dict = field(default_factory=dict)  # what checking the images found (data.verify), for the result


def prepare(config: CellConfig, reporter: Reporter | None = None) -> CellInputs:
    """Everything a cell reads before it does anything expensive, every image of its train and test splits decoded
    and checked included: a bad file costs seconds here, not a teacher."""
    method = make_method(config.method, config.method_options)
    config.check_labels()
    detector = make_detector(config.detector)
    evaluator = detector if config.evaluation_detector == config.detector else make_detector(config.evaluation_detector)
    if config.labels == DISTILL:
        check_distillation(evaluator, detector)
    dataset = load_dataset(config.dataset)
    test_dataset = load_dataset(config.test_dataset) if config.test_dataset else None
    split, images = verified_split(resolve_train_test(dataset, test_dataset), config.skip_bad_images, reporter)
    notes = list(split.notes)
    if images["skipped"]:
        notes.append(f"{len(images['skipped'])} bad image(s) left out (--skip-bad-images); the result lists them")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        budget = budget_for(config.ratio, len(split.train))
    return CellInputs(method, detector, evaluator, split, budget, notes + [str(w.message) for w in caught], images)


def verified_split(split: TrainTest, skip: bool, reporter: Reporter | None = None) -> tuple[TrainTest, dict]:
    """``split`` with every image of both sides decoded and checked (:func:`dcbench.data.verify.verified`)."""
    from dcbench.data.verify import verified

    parts, record = verified({"train": split.train, "test": split.test}, skip=skip, reporter=reporter)
    return replace(split, train=parts["train"], test=parts["test"]), record


def fetch_cell_teacher(
    config: CellConfig, inputs: CellInputs, backend, *, device: str, reporter: Reporter | None = None
):
    """The Fetch teacher of ``backend`` on the cell's train split (trained once, then cached). A checkpoint given
    with ``--teacher`` stands for the condensing detector's teacher only."""
    from dcbench.harness.teacher import fetch_teacher

    given = config.teacher_checkpoint if backend is inputs.detector else None
    return fetch_teacher(
        inputs.split.train,
        backend,
        protocol=config.protocol,
        seed=config.seed,
        device=device,
        reporter=reporter,
        checkpoint_path=Path(given) if given else None,
    )


def condense_cell(
    config: CellConfig,
    out_root: Path,
    *,
    device: str,
    inputs: CellInputs | None = None,
    reporter: Reporter | None = None,
):
    """The cell's condensed set, made once per :meth:`CellConfig.condense_name` under ``OUT/condensed/`` and
    reused (a complete set has a manifest; a killed one is redone, DCOD resuming its forge). Returns the set,
    the teacher record, this call's stage timings (empty when the set is reused) and how the set was made."""
    inputs = inputs or prepare(config)
    workdir = Path(out_root) / CONDENSED_ROOT / config.condense_name()
    with exclusive(
        results_lock(out_root, f"condensed-{workdir.name}"),
        note=reporter.note if reporter is not None else None,
        waiting=f"another process is making condensed set {workdir.name}: waiting",
    ):
        return _condense_locked(config, workdir, device=device, inputs=inputs, reporter=reporter)


def _condense_locked(config: CellConfig, workdir: Path, *, device: str, inputs: CellInputs, reporter):
    from dcbench.condensed import MANIFEST, load_condensed

    timings: dict[str, float] = {}
    teacher = teacher_record = None
    record_file = workdir / "condense.json"
    settings = current_settings(config, inputs.method)
    if (workdir / "condensed" / MANIFEST).is_file() and record_file.is_file():
        record = json.loads(record_file.read_text())
        existing = load_condensed(workdir / "condensed")
        # the name holds the dataset's identity; the fingerprint says whether the files behind it are still the same
        drift = settings_drift(record.get("settings") or {}, settings)
        if drift:
            why = f"made with other settings ({', '.join(drift)})"
        elif existing.manifest.get("source_fingerprint") != inputs.split.train.fingerprint():
            why = "the train set changed since this set was condensed"
        else:
            # this cell did no condensing: its timings say so; the time the set took is kept with the set
            log.info("condensed set %s: reused (made by %s)", workdir.name, record["cell"])
            return (
                existing,
                record["teacher"],
                {},
                {"reused": True, "made_by": record["cell"], "timings": record["timings"]},
            )
        if reporter is not None:
            reporter.note(f"{workdir.name}: {why}; condensing again")
        record_file.unlink()
    if needs_teacher(inputs.method):
        with timed(timings, "fetch_s"):
            teacher, teacher_record = fetch_cell_teacher(
                config, inputs, inputs.detector, device=device, reporter=reporter
            )
    with timed(timings, "condense_s"):
        workdir.mkdir(parents=True, exist_ok=True)
        context = CondenseContext(teacher, config.seed, workdir, config.protocol, device, reporter)
        try:
            condensed = inputs.method.condense(inputs.split.train, inputs.budget, context=context)
        except SystemExit as exc:  # a plugin's sys.exit() must not end dcbench with the plugin's exit code, silently
            plugin = _method_provider(config.method).get("name") or "?"
            raise ConfigError(
                f"method {config.method!r} (plugin {plugin}): condense() called sys.exit({exc.code!r})"
            ) from None
    check_condensed(condensed, config.method)
    if len(condensed) != inputs.budget:
        raise ConfigError(f"method {config.method!r} returned {len(condensed)} images for a budget of {inputs.budget}")
    # written after the set: its presence means the set is complete and says how it was made
    atomic_write_text(
        record_file,
        json.dumps(
            {"cell": config.condense_name(), "teacher": teacher_record, "timings": timings, "settings": settings},
            indent=2,
            default=str,
        )
        + "\n",
    )
    return condensed, teacher_record, timings, {"reused": False, "made_by": config.condense_name(), "timings": timings}


def check_condensed(condensed: Any, method: str) -> None:
    """What ``condense`` returned is a complete condensed set, or one line naming the method and its plugin; checked
    before ``condense.json`` is written, whose presence says the set exists."""
    from dcbench.condensed import MANIFEST, CondensedSet

    if isinstance(condensed, CondensedSet) and (Path(condensed.path) / MANIFEST).is_file():
        return
    plugin = _method_provider(method).get("name") or "?"
    what = (
        f"a CondensedSet whose folder {condensed.path} has no {MANIFEST}"
        if isinstance(condensed, CondensedSet)
        else f"{type(condensed).__name__}, not a CondensedSet"
    )
    raise ConfigError(
        f"method {method!r} (plugin {plugin}): condense() returned {what}; write the set with "
        f"dcbench.api.write_condensed and return what it returns"
    )


def run_cell(
    config: CellConfig, out_root: Path, *, device: str, reporter: Reporter | None = None, wait: bool = True
) -> ResultRecord:
    """Condense (or reuse the condensed set), train the evaluation detector on it, score it, write result.json;
    see :func:`run_or_read_cell`."""
    return run_or_read_cell(config, out_root, device=device, reporter=reporter, wait=wait)[0]


def run_or_read_cell(
    config: CellConfig, out_root: Path, *, device: str, reporter: Reporter | None = None, wait: bool = True
) -> tuple[ResultRecord, bool]:
    """Condense (or reuse the condensed set), train the evaluation detector on it, score it, write result.json;
    the record, and whether this process made it (False: another process finished the cell while this one waited).

    A method with ``student_is_teacher`` (the full-data reference row) trains on the whole train split, which is
    exactly the Fetch teacher of the evaluation detector: the cached teacher is used and nothing is trained twice.
    Two processes running the same cell at once: the second waits for the first and returns its result, or with
    ``wait=False`` raises :class:`dcbench.io.LockHeld` at once, to come back to the cell later; so it does at any
    other lock the cell needs that another process holds (its teacher, a condensed set it shares). Nothing made is
    lost: a finished set is reused.
    """
    reporter = reporter or Reporter()
    cell_dir = Path(out_root) / config.cell_name()
    asked = time.time()
    timings: dict[str, float] = {}
    with timed(timings, "load_s"):
        inputs = prepare(config, reporter)  # an unknown method, detector, option, dataset or bad image fails here
    with (
        waiting_for_locks(wait),
        exclusive(
            results_lock(out_root, f"cell-{cell_dir.name}"),
            note=reporter.note,
            waiting=f"another process is running cell {cell_dir.name}: waiting",
        ),
    ):
        done = cell_dir / RESULT_FILE
        if done.is_file() and done.stat().st_mtime >= asked:
            reporter.note(f"{done}: finished by the other process meanwhile")
            return read_result_record(done), False
        made = _run_cell_locked(config, inputs, cell_dir, out_root, device=device, reporter=reporter, timings=timings)
        return made, True


def results_lock(out_root: Path, name: str) -> Path:
    """A lock file for shared work in a results folder, kept out of the way in ``OUT/.locks/``."""
    path = Path(out_root) / ".locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def timed(timings: dict[str, float], key: str):
    """Adds the seconds the block took to ``timings[key]`` (rounded to ms), also when it raises."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - t0, 3)


def _run_cell_locked(
    config: CellConfig,
    inputs: CellInputs,
    cell_dir: Path,
    out_root: Path,
    *,
    device: str,
    reporter: Reporter,
    timings: dict[str, float],
) -> ResultRecord:
    with timed(timings, "total_s"):
        cell_dir.mkdir(parents=True, exist_ok=True)
        for note in inputs.notes:
            reporter.note(f"warning: {note}")
        make_student = _teacher_as_student if getattr(inputs.method, "student_is_teacher", False) else _train_student
        students, records, trained_on = make_student(config, inputs, cell_dir, out_root, device, reporter, timings)
        classes = missing_classes(inputs.split, trained_on)
        if classes["without_box_in_set"]:
            inputs.notes.append(missing_classes_note(classes))
            reporter.note(f"warning: {inputs.notes[-1]}")
        per_student = score_students(
            inputs.evaluator,
            students,
            inputs.split.test,
            protocol=config.protocol,
            device=device,
            reporter=reporter,
            timings=timings,
            cell_dir=cell_dir,
        )
    timings["total_s"] = round(timings.pop("total_s") + timings.get("load_s", 0.0), 3)  # loading came first
    result = _result_record(config, inputs, {**records, "classes": classes}, per_student, timings, device)
    write_result(cell_dir, result)
    return result


def _teacher_as_student(config, inputs: CellInputs, cell_dir, out_root, device, reporter, timings):
    """The full-data row: its student is the evaluation detector's Fetch teacher, trained once and cached."""
    split = inputs.split
    if inputs.budget != len(split.train):
        raise ConfigError(
            f"method {config.method!r} trains on the whole train split: use ratio 1 "
            f"(got {config.ratio:g}, {inputs.budget} of {len(split.train)} images)"
        )
    with timed(timings, "train_s"):
        fetched, teacher_record = fetch_cell_teacher(config, inputs, inputs.evaluator, device=device, reporter=reporter)
    student = fetched.checkpoint  # one: the teacher is trained once per seed, repeats do not apply
    condensed = {
        "path": None,
        "images": len(split.train),
        "boxes": split.train.n_boxes,
        "manifest": {"method": config.method, "kind": FULL_KIND},
    }
    return (
        [student],
        {
            "teacher": teacher_record,
            "condensed": condensed,
            "student": {"checkpoint": str(student.path), "teacher": teacher_record, **student.meta},
        },
        split.train,
    )


def _train_student(config, inputs: CellInputs, cell_dir, out_root, device, reporter, timings):
    """Condense (or reuse the shared set), relabel it with the Fetch teacher when the cell's labels are
    ``teacher``, then train ``protocol.student_repeats`` fresh evaluation detectors on it, the first from the cell's
    seed and the others from (seed, r)."""
    condensed, teacher_record, stage_timings, made = condense_cell(
        config, out_root, device=device, inputs=inputs, reporter=reporter
    )
    timings.update(stage_timings)
    record = {
        "key": config.condense_name(),
        "path": os.path.relpath(condensed.path, cell_dir),
        "images": len(condensed),
        "boxes": condensed.dataset.n_boxes,
        **made,
        "manifest": condensed.manifest,
    }
    records: dict[str, Any] = {}
    if config.labels == TEACHER:
        stored = record
        condensed, teacher_record, labels = teacher_labelled(
            config, inputs, condensed, out_root, device=device, reporter=reporter, timings=timings
        )
        # what the student trained on; what making the set took stays the stored set's (the compute column)
        record = {
            **stored,
            "key": condensed.path.parent.name,
            "path": os.path.relpath(condensed.path, cell_dir),
            "boxes": condensed.dataset.n_boxes,
            "manifest": condensed.manifest,
            "stored": {k: stored[k] for k in ("key", "path", "boxes")},
        }
        records["labels"] = labels
    distill = None
    if config.labels == DISTILL:
        with timed(timings, "fetch_s"):
            distill, teacher_record = fetch_cell_teacher(
                config, inputs, inputs.detector, device=device, reporter=reporter
            )
        records["labels"] = {"mode": DISTILL, "boxes": STORED, "teacher": cell_teacher_id(config, inputs)}
    students, student_record = train_students(
        inputs.evaluator,
        condensed.dataset,
        protocol=config.protocol,
        seed=config.seed,
        cell_dir=cell_dir,
        device=device,
        reporter=reporter,
        timings=timings,
        distill=distill,
    )
    trained_on = condensed.dataset
    return students, {"teacher": teacher_record, "condensed": record, **records, "student": student_record}, trained_on


def _classes_with_boxes(ds) -> set[int]:
    return {int(label) for im in ds.images for label in im.labels[~im.ignore].tolist()}


def missing_classes(split: TrainTest, trained_on) -> dict:
    """The test classes (those with a box in the test split) that the student had no box of: in the set it trained
    on, and in the whole train split. mAP averages over them too, so a reader must be able to tell a method's
    weakness from classes its set could not hold."""
    names = split.train.categories
    in_test = _classes_with_boxes(split.test)
    in_set, in_train = _classes_with_boxes(trained_on), _classes_with_boxes(split.train)
    return {
        "test_classes": len(in_test),
        "without_box_in_set": [names[k] for k in sorted(in_test - in_set)],
        "without_box_in_train_split": [names[k] for k in sorted(in_test - in_train)],
    }


def missing_classes_note(classes: dict) -> str:
    missing = classes["without_box_in_set"]
    listed = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
    in_train = len(classes["without_box_in_train_split"])
    return (
        f"{len(missing)} of {classes['test_classes']} test classes have no box in the set the student trained on "
        f"({listed}; {in_train} of them have none in the whole train split); mAP averages over them as zeros"
    )


def cell_teacher_id(config: CellConfig, inputs: CellInputs) -> str:
    """What names the condensing detector's teacher before it is fetched: its cache key, or for a checkpoint
    given with ``--teacher`` its path (as the cell's name has it), so a cached relabelled copy is found without
    loading, let alone training, a teacher."""
    from dcbench.harness.teacher import teacher_key
    from dcbench.io import stable_hash

    if config.teacher_checkpoint:
        return "given-" + stable_hash(str(Path(config.teacher_checkpoint).resolve()), 8)
    return teacher_key(inputs.split.train, inputs.detector, config.protocol, config.seed)


def teacher_labelled(
    config: CellConfig, inputs: CellInputs, condensed, out_root: Path, *, device: str, reporter, timings: dict
):
    """The cell's condensed set relabelled by the condensing detector's Fetch teacher (``labels=teacher``): made
    once per stored set, score and teacher under ``OUT/condensed/`` and reused. Returns the copy, the teacher
    record and the cell's ``labels`` record (the mode, the score, the stored and the teacher's box counts)."""
    from dcbench.artifacts.content import content_fingerprint
    from dcbench.harness import labels

    teacher_id = cell_teacher_id(config, inputs)
    name = labels.relabelled_name(config.condense_name(), config.label_score, teacher_id)
    workdir = Path(out_root) / CONDENSED_ROOT / name
    with exclusive(
        results_lock(out_root, f"condensed-{workdir.name}"),
        note=reporter.note if reporter is not None else None,
        waiting=f"another process is relabelling {workdir.name}: waiting",
    ):
        made = labels.cached_copy(workdir, content_fingerprint(condensed.dataset))
        reused = made is not None
        if made is None:
            with timed(timings, "fetch_s"):
                teacher, teacher_record = fetch_cell_teacher(
                    config, inputs, inputs.detector, device=device, reporter=reporter
                )
            with timed(timings, "relabel_s"):
                made = labels.relabel(
                    condensed,
                    teacher,
                    score=config.label_score,
                    workdir=workdir,
                    teacher_id=teacher_id,
                    teacher_record=teacher_record,
                )
    copy, record = made
    info = {k: v for k, v in record["labels"].items() if k not in ("source_fingerprint", "version")}
    if not info["teacher_boxes"]:  # a student on background alone: legal, but the result should say so
        inputs.notes.append(
            f"the teacher found no box at or above score {config.label_score:g} on the {len(copy)} condensed "
            f"images: the student trains on background only"
        )
        if reporter is not None:
            reporter.note(f"warning: {inputs.notes[-1]}")
    return copy, record["teacher"], {**info, "reused": reused, "relabel_s": record["timings"]["relabel_s"]}


def train_students(
    evaluator,
    dataset,
    *,
    protocol,
    seed: int,
    cell_dir: Path,
    device: str,
    reporter,
    timings: dict[str, float],
    distill=None,
) -> tuple[list, dict]:
    """``protocol.student_repeats`` fresh detectors trained on ``dataset``, the first from ``seed`` and the others
    from (seed, r), each in its own folder of ``cell_dir``; and the student record. Shared by a cell and by
    ``dcbench eval`` (an external set), so that the same set, seed and protocol train the very same students.
    ``distill``: the frozen Fetch teacher each student distils from (``labels = distill``)."""
    students, repeats = [], []
    extra = {"distill": distill} if distill is not None else {}  # a backend that cannot distil never sees the word
    for r in range(protocol.student_repeats):
        student_seed = seed if r == 0 else seed * 1000 + r
        with timed(timings, "train_s"):
            student = evaluator.train(
                dataset,
                protocol=protocol,
                seed=student_seed,
                workdir=cell_dir / ("student" if r == 0 else f"student-{r}"),
                device=device,
                reporter=reporter,
                **extra,
            )
        students.append(student)
        repeats.append({"seed": student_seed, "checkpoint": os.path.relpath(student.path, cell_dir)})
    student_record = {"checkpoint": repeats[0]["checkpoint"], **students[0].meta}
    if len(students) > 1:
        student_record["repeats"] = repeats
    return students, student_record


def score_students(
    evaluator,
    students: list,
    test,
    *,
    protocol,
    device: str,
    reporter,
    timings: dict[str, float],
    cell_dir: Path | None = None,
) -> list[dict]:
    """Each student's COCO metrics on ``test`` (the one evaluator every backend is scored by). With ``cell_dir``,
    each student's predictions are kept there as a COCO results file (:func:`prediction_files` names them), so a
    score can be checked with another evaluator without predicting again."""
    from dcbench.evaluation.coco_eval import detections_to_coco, evaluate

    per_student = []
    for student, name in zip(students, prediction_files(len(students))):
        with timed(timings, "predict_s"):
            detections = evaluator.predict(student, test, protocol=protocol, device=device, reporter=reporter)
        with timed(timings, "evaluate_s"):
            per_student.append(evaluate(test, detections))
        if cell_dir is not None:
            atomic_write_text(Path(cell_dir) / name, json.dumps(detections_to_coco(detections)), durable=False)
    return per_student


def _result_record(
    config: CellConfig, inputs: CellInputs, records: dict, per_student: list[dict], timings: dict, device: str
) -> ResultRecord:
    from dcbench.detectors.base import describe

    split = inputs.split
    return build_result(
        config.cell_name(),
        config.as_dict(),
        plugin=_method_provider(config.method),
        method={
            "name": config.method,
            "variant": config.variant_options(),
            "options": inputs.method.describe() if hasattr(inputs.method, "describe") else {},
        },
        detector=describe(inputs.detector),
        eval_detector=describe(inputs.evaluator),
        data={
            **split.as_dict(),
            "categories": split.train.categories,
            "train_fingerprint": split.train.fingerprint(),
            "test_fingerprint": split.test.fingerprint(),
            "images": inputs.images,
        },
        budget=inputs.budget,
        effective_ratio=inputs.budget / len(split.train),
        warnings=inputs.notes,
        **records,
        timings=timings,
        per_student=per_student,
        provenance=run_provenance(device),
    )
