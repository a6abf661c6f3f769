"""One cell of the benchmark: condense a train set, train a fresh detector on the result, score it on the real
test set, and write one ``result.json``.

The result file is the unit of resumption: it is written atomically at the very end, so its presence means the
cell is finished, and nothing else in the cell folder is trusted without it.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dcbench.data.spec import DEFAULT_DATASET, load_dataset, resolve_train_test
from dcbench.data.writers import atomic_write_text
from dcbench.errors import ConfigError
from dcbench.harness.provenance import git_revision, library_versions, machine
from dcbench.methods.base import CondenseContext, budget_for
from dcbench.progress import Reporter
from dcbench.protocols import Protocol

RESULT_FILE = "result.json"
RESULT_SCHEMA = 1


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

    @property
    def evaluation_detector(self) -> str:
        return self.eval_detector or self.detector

    def cell_name(self) -> str:
        parts = [self.dataset, self.method, self.detector]
        if self.eval_detector and self.eval_detector != self.detector:
            parts.append(f"eval-{self.eval_detector}")
        identity = self.variant_options()
        if identity:
            parts.append("+".join(f"{k}={v}" for k, v in sorted(identity.items())))
        if self.teacher_checkpoint:
            import hashlib

            parts.append("teacher-" + hashlib.sha256(str(Path(self.teacher_checkpoint).resolve()).encode()).hexdigest()[:8])
        parts += [f"r{self.ratio:g}", f"s{self.seed}", self.protocol.protocol_id]
        return re.sub(r"[^A-Za-z0-9._=+-]+", "_", "__".join(parts)).strip("_")

    def variant_options(self) -> dict[str, Any]:
        """The method options that make this method variant (reporting-only options left out)."""
        return {k: v for k, v in self.method_options.items() if k not in self._bookkeeping()}

    def _bookkeeping(self) -> frozenset:
        """Options that change how a method reports, not what it produces (e.g. DCOD's snapshots): they do not
        make a new cell. A method lists them in its ``bookkeeping_options`` class attribute."""
        from dcbench.plugins.manager import get_registries

        try:
            return frozenset(getattr(get_registries().methods.load(self.method), "bookkeeping_options", ()))
        except Exception:
            return frozenset()

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
    from dcbench.plugins.manager import get_registries

    cls = (registries or get_registries()).methods.load(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"method {name!r}: invalid options {options}: {exc}") from None


def read_result(cell_dir: Path) -> dict | None:
    f = Path(cell_dir) / RESULT_FILE
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError:
        return None


def run_cell(config: CellConfig, out_root: Path, *, device: str, reporter: Reporter | None = None) -> dict:
    from dcbench.detectors.base import describe
    from dcbench.evaluation.coco_eval import evaluate
    from dcbench.harness.teacher import fetch_teacher

    reporter = reporter or Reporter()
    cell_dir = Path(out_root) / config.cell_name()
    cell_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    def timed(stage: str, t0: float) -> None:
        timings[f"{stage}_s"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    method = make_method(config.method, config.method_options)
    detector = make_detector(config.detector)
    evaluator_backend = make_detector(config.evaluation_detector) if config.eval_detector else detector
    dataset = load_dataset(config.dataset)
    test_dataset = load_dataset(config.test_dataset) if config.test_dataset else None
    split = resolve_train_test(dataset, test_dataset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        budget = budget_for(config.ratio, len(split.train))
    notes = [str(w.message) for w in caught]
    for note in notes:
        reporter.note(f"warning: {note}")
    timed("load", t0)

    teacher = teacher_record = None
    if getattr(method, "requires_teacher", False):
        t0 = time.perf_counter()
        teacher, teacher_record = fetch_teacher(
            split.train, detector, protocol=config.protocol, seed=config.seed, device=device, reporter=reporter,
            checkpoint_path=Path(config.teacher_checkpoint) if config.teacher_checkpoint else None)
        timed("fetch", t0)

    t0 = time.perf_counter()
    context = CondenseContext(teacher, config.seed, cell_dir, config.protocol, device, reporter)
    condensed = method.condense(split.train, budget, context=context)
    if len(condensed) != budget:
        raise ConfigError(f"method {config.method!r} returned {len(condensed)} images for a budget of {budget}")
    timed("condense", t0)

    t0 = time.perf_counter()
    student = evaluator_backend.train(condensed.dataset, protocol=config.protocol, seed=config.seed,
                                      workdir=cell_dir / "student", device=device, reporter=reporter)
    timed("train", t0)
    t0 = time.perf_counter()
    detections = evaluator_backend.predict(student, split.test, protocol=config.protocol, device=device, reporter=reporter)
    timed("predict", t0)
    t0 = time.perf_counter()
    metrics = evaluate(split.test, detections)
    timed("evaluate", t0)
    timings["total_s"] = round(time.perf_counter() - t_all, 3)

    result = {
        "schema": RESULT_SCHEMA,
        "cell": config.cell_name(),
        "status": "ok",
        "config": config.as_dict(),
        "method": {"name": config.method, "variant": config.variant_options(),
                   "options": method.describe() if hasattr(method, "describe") else {}},
        "detector": describe(detector),
        "eval_detector": describe(evaluator_backend),
        "data": {
            **split.as_dict(),
            "categories": split.train.categories,
            "train_fingerprint": split.train.fingerprint(),
            "test_fingerprint": split.test.fingerprint(),
        },
        "budget": budget,
        "effective_ratio": budget / len(split.train),
        "warnings": notes,
        "teacher": teacher_record,
        "condensed": {"path": str(condensed.path.relative_to(cell_dir)), "images": len(condensed),
                      "boxes": condensed.dataset.n_boxes, "manifest": condensed.manifest},
        "student": {"checkpoint": str(Path(student.path).relative_to(cell_dir)) if Path(student.path).is_relative_to(cell_dir) else str(student.path),
                    **student.meta},
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
