"""One cell of the benchmark: condense a train set, train a fresh detector on the result, score it on the real
test set, and write one ``result.json``.

The result file is the unit of resumption: it is written atomically at the very end, so its presence means the
cell is finished, and nothing else in the cell folder is trusted without it.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dcbench.api import RESULT_FILE, RESULT_SCHEMA, ResultRecord, read_result_record
from dcbench.data.spec import DEFAULT_DATASET, load_dataset, resolve_train_test
from dcbench.data.writers import atomic_write_text
from dcbench.errors import ConfigError, DcbenchError
from dcbench.harness.provenance import git_revision, library_versions, machine
from dcbench.methods.base import CondenseContext, budget_for, needs_teacher
from dcbench.progress import Reporter
from dcbench.protocols import Protocol

FULL_KIND = "full train split"  # the condensed "kind" of a full-data cell, how leaderboards find the upper-bound row


@dataclass
class CellConfig:
    method: str
    detector: str
    ratio: float
    seed: int
    protocol: Protocol
    dataset: str = DEFAULT_DATASET
    test_dataset: str | None = None
    eval_detector: str | None = None  # None: evaluate with the detector that condensed
    method_options: dict[str, Any] = field(default_factory=dict)
    teacher_checkpoint: str | None = None
    # what the dataset is (data.spec.dataset_identity), set where specs enter: cells are named by it, never by how
    # a path was spelled; None names the cell by the spec itself
    dataset_id: str | None = None

    @property
    def evaluation_detector(self) -> str:
        return self.eval_detector or self.detector

    def cell_name(self) -> str:
        """The cell's folder name: everything that changes its result, readable."""
        extra = [f"eval-{self.eval_detector}"] if self.eval_detector and self.eval_detector != self.detector else []
        return self._name(extra + self._variant_parts(), condensing=True)

    def condense_name(self) -> str:
        """The condensed set's folder name: what changes the *condensed set*. The evaluation detector never does;
        the condensing detector, its teacher and the protocol matter only to methods that use a teacher, so a
        Random set is shared by every detector of a matrix."""
        return self._name(self._variant_parts(), condensing=self.uses_teacher())

    def _variant_parts(self) -> list[str]:
        identity = self.variant_options()
        return ["+".join(f"{k}={v}" for k, v in sorted(identity.items()))] if identity else []

    def _name(self, extra: list[str], *, condensing: bool) -> str:
        parts = [self.dataset_id or self.dataset, self.method] + ([self.detector] if condensing else []) + extra
        if condensing and self.teacher_checkpoint:
            import hashlib

            parts.append(
                "teacher-" + hashlib.sha256(str(Path(self.teacher_checkpoint).resolve()).encode()).hexdigest()[:8]
            )
        parts += [f"r{self.ratio:g}", f"s{self.seed}"] + ([self.protocol.protocol_id] if condensing else [])
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", "__".join(parts)).strip("_")

    def uses_teacher(self) -> bool:
        return needs_teacher(make_method(self.method, self.method_options))

    def student_is_teacher(self) -> bool:
        """The full-data row: its student is the evaluation detector's teacher (see methods.full)."""
        return bool(getattr(self._method_class(), "student_is_teacher", False))

    def _method_class(self):
        from dcbench.plugins.manager import get_registries

        return get_registries().methods.load(self.method)

    def variant_options(self) -> dict[str, Any]:
        """The method options that make this method variant (reporting-only options left out)."""
        return {k: v for k, v in self.method_options.items() if k not in self._bookkeeping()}

    def _bookkeeping(self) -> frozenset:
        """Options that change how a method reports, not what it produces (e.g. DCOD's snapshots): they do not
        make a new cell. A method lists them in its ``bookkeeping_options`` class attribute. An unknown method is
        the registry's one-line error, not an empty set."""
        return frozenset(getattr(self._method_class(), "bookkeeping_options", ()))

    def as_dict(self) -> dict:
        d = asdict(self)
        d["protocol"] = self.protocol.as_dict()
        return d


def make_detector(spec: str):
    from dcbench.data.spec import parse_spec
    from dcbench.plugins.manager import get_registries

    name, arg = parse_spec(spec)
    cls = get_registries().detectors.load(name)
    return cls(arg) if arg is not None else cls()


def make_method(name: str, options: dict[str, Any], registries=None):
    import inspect

    from dcbench.plugins.manager import get_registries

    cls = (registries or get_registries()).methods.load(name)
    try:
        inspect.signature(cls).bind(**options)
    except TypeError:
        params = inspect.signature(cls).parameters.values()
        known = [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        unknown = [k for k in options if k not in known]
        takes = f"it takes {', '.join(known)}" if known else "it takes none"
        raise ConfigError(
            f"method {name!r} does not take option(s) {', '.join(unknown) or options} ({takes})"
        ) from None
    except ValueError:  # no signature to read (a builtin): let the call say what is wrong
        pass
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"method {name!r}: invalid options {options}: {exc}") from None


def current_settings(config: CellConfig, method=None) -> dict:
    """The protocol values and full method config (defaults included) this cell runs with now, as JSON values.
    Protocol fields that only some methods read (the forge's) count only for the methods that declare them, so a
    changed forge length leaves Random's results current."""
    method = method if method is not None else make_method(config.method, config.method_options)
    from dcbench.protocols import METHOD_FIELDS

    describe = getattr(method, "describe", None)
    options = {k: v for k, v in (describe() if describe else {}).items() if k not in config._bookkeeping()}
    read = set(getattr(method, "protocol_fields", ()))
    protocol = {k: v for k, v in config.protocol.as_dict().items() if k not in METHOD_FIELDS or k in read}
    return json.loads(json.dumps({"protocol": protocol, "method": options}, default=str))


def settings_drift(recorded: dict, now: dict) -> list[str]:
    """Settings recorded with a finished result (or condensed set) that differ from what the cell would use now.

    A preset's values or a method's default may change between dcbench versions while the cell's name stays the
    same; such a result must not pass for a current one. Only keys present on both sides are compared: a new option
    whose default keeps the old behaviour does not make old results stale. A method whose behaviour changes with no
    option to show it bumps the ``version`` its ``describe()`` reports; a record without one is version 1."""
    drift = []
    for part in ("protocol", "method"):
        old, new = recorded.get(part) or {}, now.get(part) or {}
        drift += [
            f"{part}.{k}"
            for k in sorted(old.keys() & new.keys())
            if k not in ("description", "protocol_id", "version") and old[k] != new[k]
        ]
        if "version" in new and old.get("version", 1) != new["version"]:
            drift.append(f"{part}.version")
    return drift


def read_result(cell_dir: Path) -> ResultRecord | None:
    """The cell's finished result, or None (none, or one that cannot be read: the cell is redone)."""
    f = Path(cell_dir) / RESULT_FILE
    if not f.is_file():
        return None
    try:
        return read_result_record(f)
    except DcbenchError:
        return None


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


def prepare(config: CellConfig) -> CellInputs:
    method = make_method(config.method, config.method_options)
    detector = make_detector(config.detector)
    evaluator = detector if config.evaluation_detector == config.detector else make_detector(config.evaluation_detector)
    dataset = load_dataset(config.dataset)
    test_dataset = load_dataset(config.test_dataset) if config.test_dataset else None
    split = resolve_train_test(dataset, test_dataset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        budget = budget_for(config.ratio, len(split.train))
    return CellInputs(method, detector, evaluator, split, budget, [str(w.message) for w in caught])


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
    from dcbench.io import exclusive

    inputs = inputs or prepare(config)
    workdir = Path(out_root) / CONDENSED_ROOT / config.condense_name()
    workdir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(
        workdir.with_name(f"{workdir.name}.lock"),
        note=reporter.note if reporter is not None else None,
        waiting=f"another process is making condensed set {workdir.name}: waiting",
    ):
        return _condense_locked(config, workdir, device=device, inputs=inputs, reporter=reporter)


def _condense_locked(config: CellConfig, workdir: Path, *, device: str, inputs: CellInputs, reporter):
    from dcbench.methods.condensed import MANIFEST, load_condensed

    timings: dict[str, float] = {}
    teacher = teacher_record = None
    record_file = workdir / "condense.json"
    settings = current_settings(config, inputs.method)
    if (workdir / "condensed" / MANIFEST).is_file() and record_file.is_file():
        record = json.loads(record_file.read_text())
        existing = load_condensed(workdir / "condensed")
        # the name holds the dataset *spec*; the fingerprint says whether the files behind it are still the same
        drift = settings_drift(record.get("settings") or {}, settings)
        if drift:
            why = f"made with other settings ({', '.join(drift)})"
        elif existing.manifest.get("source_fingerprint") != inputs.split.train.fingerprint():
            why = "the train set changed since this set was condensed"
        else:
            # this cell did no condensing: its timings say so; the time the set took is kept with the set
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
        t0 = time.perf_counter()
        teacher, teacher_record = fetch_cell_teacher(config, inputs, inputs.detector, device=device, reporter=reporter)
        timings["fetch_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    context = CondenseContext(teacher, config.seed, workdir, config.protocol, device, reporter)
    condensed = inputs.method.condense(inputs.split.train, inputs.budget, context=context)
    if len(condensed) != inputs.budget:
        raise ConfigError(f"method {config.method!r} returned {len(condensed)} images for a budget of {inputs.budget}")
    timings["condense_s"] = round(time.perf_counter() - t0, 3)
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


def run_cell(config: CellConfig, out_root: Path, *, device: str, reporter: Reporter | None = None) -> dict:
    """Condense (or reuse the condensed set), train the evaluation detector on it, score it, write result.json.

    A method with ``student_is_teacher`` (the full-data reference row) trains on the whole train split, which is
    exactly the Fetch teacher of the evaluation detector: the cached teacher is used and nothing is trained twice.
    Two processes running the same cell at once: the second waits for the first and returns its result.
    """
    from dcbench.io import exclusive

    reporter = reporter or Reporter()
    cell_dir = Path(out_root) / config.cell_name()
    asked = time.time()
    Path(out_root).mkdir(parents=True, exist_ok=True)
    with exclusive(
        Path(out_root) / f".{cell_dir.name}.lock",
        note=reporter.note,
        waiting=f"another process is running cell {cell_dir.name}: waiting",
    ):
        done = cell_dir / RESULT_FILE
        if done.is_file() and done.stat().st_mtime >= asked:
            reporter.note(f"{done}: finished by the other process meanwhile")
            return json.loads(done.read_text())
        return _run_cell_locked(config, cell_dir, out_root, device=device, reporter=reporter)


def _run_cell_locked(config: CellConfig, cell_dir: Path, out_root: Path, *, device: str, reporter: Reporter) -> dict:
    from dcbench.detectors.base import describe
    from dcbench.evaluation.coco_eval import evaluate

    t_all = time.perf_counter()
    t0 = time.perf_counter()
    inputs = prepare(config)  # an unknown method, detector, option or dataset fails here, before any folder exists
    cell_dir.mkdir(parents=True, exist_ok=True)
    split, evaluator_backend = inputs.split, inputs.evaluator
    for note in inputs.notes:
        reporter.note(f"warning: {note}")
    timings: dict[str, float] = {"load_s": round(time.perf_counter() - t0, 3)}

    if getattr(inputs.method, "student_is_teacher", False):
        if inputs.budget != len(split.train):
            raise ConfigError(
                f"method {config.method!r} trains on the whole train split: use ratio 1 "
                f"(got {config.ratio:g}, {inputs.budget} of {len(split.train)} images)"
            )
        t0 = time.perf_counter()
        fetched, teacher_record = fetch_cell_teacher(
            config, inputs, evaluator_backend, device=device, reporter=reporter
        )
        student = fetched.checkpoint
        timings["train_s"] = round(time.perf_counter() - t0, 3)
        condensed_record = {
            "path": None,
            "images": len(split.train),
            "boxes": split.train.n_boxes,
            "manifest": {"method": config.method, "kind": FULL_KIND},
        }
        student_record = {"checkpoint": str(student.path), "teacher": teacher_record, **student.meta}
    else:
        condensed, teacher_record, stage_timings, made = condense_cell(
            config, out_root, device=device, inputs=inputs, reporter=reporter
        )
        timings.update(stage_timings)
        condensed_record = {
            "key": config.condense_name(),
            "path": os.path.relpath(condensed.path, cell_dir),
            "images": len(condensed),
            "boxes": condensed.dataset.n_boxes,
            **made,
            "manifest": condensed.manifest,
        }
        t0 = time.perf_counter()
        student = evaluator_backend.train(
            condensed.dataset,
            protocol=config.protocol,
            seed=config.seed,
            workdir=cell_dir / "student",
            device=device,
            reporter=reporter,
        )
        timings["train_s"] = round(time.perf_counter() - t0, 3)
        student_record = {"checkpoint": os.path.relpath(student.path, cell_dir), **student.meta}
    t0 = time.perf_counter()
    detections = evaluator_backend.predict(
        student, split.test, protocol=config.protocol, device=device, reporter=reporter
    )
    timings["predict_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    metrics = evaluate(split.test, detections)
    timings["evaluate_s"] = round(time.perf_counter() - t0, 3)
    timings["total_s"] = round(time.perf_counter() - t_all, 3)

    result = {
        "schema": RESULT_SCHEMA,
        "cell": config.cell_name(),
        "status": "ok",
        "config": config.as_dict(),
        "plugin": _method_provider(config.method),
        "method": {
            "name": config.method,
            "variant": config.variant_options(),
            "options": inputs.method.describe() if hasattr(inputs.method, "describe") else {},
        },
        "detector": describe(inputs.detector),
        "eval_detector": describe(evaluator_backend),
        "data": {
            **split.as_dict(),
            "categories": split.train.categories,
            "train_fingerprint": split.train.fingerprint(),
            "test_fingerprint": split.test.fingerprint(),
        },
        "budget": inputs.budget,
        "effective_ratio": inputs.budget / len(split.train),
        "warnings": inputs.notes,
        "teacher": teacher_record,
        "condensed": condensed_record,
        "student": student_record,
        "metrics": metrics,
        "timings": timings,
        "device": {"name": device},
        "environment": {**library_versions(), **machine()},
        "git": git_revision(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    from dcbench.device import device_name

    result["device"]["model"] = device_name(device)
    atomic_write_text(cell_dir / RESULT_FILE, json.dumps(result, indent=2, default=str) + "\n")
    return result
