"""How long the pending cells of a matrix will take, from measured per-step costs (``dcbench matrix --dry-run``).

A cell's time is dominated by optimiser steps: the Fetch teacher's (once per dataset, detector and seed), the
method's own (DCOD's forge iterations; selection methods take none worth counting) and the student's. The step
counts follow from the protocol exactly (``Protocol.epochs_for``); the seconds per step come from

1. the result files already in the output folder (what was measured for this detector and image size: a teacher's
   steps from the teachers its results trained, the other steps from their students), else
2. ``MEASURED``: seconds per step at batch 16 measured on dcbench's reference machine (2 CPU cores, no GPU),
   scaled by pixels and batch size to the protocol's. A detector with neither gets no estimate, and says so.

A method tells how many teacher steps it takes through an optional ``estimated_steps(budget, protocol)`` method
returning ``(iterations, batch)`` (DCOD: its forge); methods without one count as free. A distilled student's
step (``labels = distill``) costs ``DISTILL_FACTOR`` plain ones.

``--gpu NAME`` swaps the seconds per step for a FLOP model of that GPU (``harness.gpu_cost``); the step counts,
and what is shared or cached, stay as they are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dcbench.harness.gpu_cost import DEFAULT_CLASSES
from dcbench.results import DISTILL

# seconds per training step at batch 16 on the reference CPU (2 cores), and what measured them
MEASURED = {
    # a 30-epoch teacher on the 1000 images of shapes: 1890 steps in 447 s (leaderboards/results/shapes-forge-length)
    ("ultralytics:yolo11n.yaml", 160): 0.237,
    # 1500-step students in 344-421 s (leaderboards/results/shapes-dcod-1pct)
    ("ultralytics:yolov3-tiny.yaml", 128): 0.25,
}
# a forge iteration (forward and backward to the pixels, frozen weights, priors and FBD) against a training step
# of the same batch, measured with benchmarks/bench_forge.py
FORGE_FACTOR = 1.4  # 0.204 s per iteration of 10 images against 0.237 s per training step of 16, yolo11n at 160 px
# a distilled student's step (labels = distill: the frozen teacher's forward on the batch, and PKD) against a plain
# one, yolo11n at 160 px: 1.29x in benchmarks/bench_student_step.py --distill (0.510 s against 0.394 s, 10 images),
# 1.35x in the shapes reference cells of one sitting (median train_s 846 s against 625 s, 10 images) and 1.52x in
# BCCD's (892 s against 587 s with teacher labels, 15 images; leaderboards/results/shapes-quick and bccd-quick)
DISTILL_FACTOR = 1.4


class StepCosts(Protocol):
    """Seconds per step of ``batch`` images at ``imgsz`` for a detector backend; None where there is no figure."""

    missing: str  # what a detector without a figure lacks, as the estimate says it
    gpu: str | None  # the GPU a model of costs is for; None: measured

    def basis(self) -> str:
        """How the figures were made, when they are a model."""
        ...

    def train(self, backend, imgsz: int, batch: int, classes: int) -> float | None: ...

    def teacher(self, backend, imgsz: int, batch: int, classes: int) -> float | None: ...

    def forge(self, backend, imgsz: int, batch: int, classes: int) -> float | None: ...


@dataclass
class MeasuredCosts:
    """Seconds per step from measurements (``MEASURED`` and those of finished results), scaled by pixels."""

    known: dict[tuple[str, int], float]
    known_teachers: dict[tuple[str, int], float]
    missing: str = "no measured cost"
    gpu: str | None = None

    def basis(self) -> str:
        return ""

    def train(self, backend, imgsz: int, batch: int, classes: int) -> float | None:
        return step_seconds(backend.name, imgsz, batch, self.known)

    def teacher(self, backend, imgsz: int, batch: int, classes: int) -> float | None:
        return step_seconds(backend.name, imgsz, batch, self.known_teachers)

    def forge(self, backend, imgsz: int, batch: int, classes: int) -> float | None:
        step = step_seconds(backend.name, imgsz, batch, self.known)
        return None if step is None else FORGE_FACTOR * step


def measured_costs(out: Path, machine: str | None = None) -> MeasuredCosts:
    """What a dry run into ``out`` on ``machine`` goes by: the reference figures, overridden by the results'."""
    known = {**MEASURED, **measured_in(out, machine)}
    return MeasuredCosts(known, {**known, **teachers_measured_in(out, machine)})


@dataclass
class Estimate:
    teacher_s: float = 0.0
    condense_s: float = 0.0
    student_s: float = 0.0
    teachers: int = 0  # teachers to train
    unknown: set = field(default_factory=set)  # detectors without a figure
    missing: str = MeasuredCosts.missing
    gpu: str | None = None  # modelled for this GPU, not taken from measurements
    basis: str = ""  # how a modelled figure was made

    @property
    def total_s(self) -> float:
        return self.teacher_s + self.condense_s + self.student_s

    def text(self) -> str:
        teachers = (
            f"teachers {self.teacher_s / 3600:.1f} h for {self.teachers}" if self.teachers else "no teacher to train"
        )
        stages = f"{teachers}, condensing {self.condense_s / 3600:.1f} h, students {self.student_s / 3600:.1f} h"
        if self.gpu:
            line = f"modelled {self.total_s / 3600:.1f} GPU-hours on one {self.gpu} ({stages})"
        else:
            line = f"estimated {self.total_s / 3600:.1f} h ({stages})"
        if self.unknown:
            line += f"; {self.missing} for {', '.join(sorted(self.unknown))} (not counted)"
        return f"{line}\n{self.basis}" if self.basis else line


def measured_in(out: Path, machine: str | None = None) -> dict[tuple[str, int], float]:
    """Seconds per step at batch 16 from the students of finished results under ``out``; ``machine``: see
    ``_medians``."""

    def student_step(r: dict) -> tuple[tuple[str, int], float]:
        proto = r["config"]["protocol"]
        student = r.get("student") or {}
        per16 = _per16(r["timings"]["train_s"], student["epochs"], student["images"], proto["batch"])
        if r["config"].get("labels") == DISTILL:  # the figure is a plain step's: a distilled one costs more
            per16 /= DISTILL_FACTOR
        return (r["eval_detector"], int(proto["imgsz"])), per16

    return _medians(out, student_step, machine)


def teachers_measured_in(out: Path, machine: str | None = None) -> dict[tuple[str, int], float]:
    """Seconds per teacher step at batch 16 from the teachers that finished results under ``out`` trained.

    Kept apart from the students' figure because a teacher's step costs more than a student's of the same batch:
    in the shapes reference runs (yolo11n, 160 px, batch 16), a median 0.32 s per step on the 5000-image set
    against 0.23 s for the 50 to 250-image students."""

    def teacher_step(r: dict) -> tuple[tuple[str, int], float] | None:
        teacher = r.get("teacher") or {}
        if teacher.get("source") != "trained":
            return None  # none, or read from a cache: the cell that trained it carries its time (counted once)
        proto, meta = teacher["protocol"], teacher["checkpoint_meta"]
        per16 = _per16(teacher["train_s"], meta["epochs"], meta["images"], proto["batch"])
        return (teacher["detector"], int(proto["imgsz"])), per16

    return _medians(out, teacher_step, machine)


def _per16(seconds, epochs, images, batch) -> float:
    """Seconds per step of 16 images for a training of ``epochs`` over ``images`` at ``batch`` in ``seconds``."""
    images = int(images)
    batch = min(int(batch), images)  # the backends never ask for a batch larger than the set
    return float(seconds) / (int(epochs) * math.ceil(images / batch)) * 16 / batch


def _medians(out: Path, step, machine: str | None) -> dict[tuple[str, int], float]:
    """The median of ``step(result)`` per (detector, image size) over the results under ``out``, taken over those
    timed on ``machine`` (the device model a result records) where there are any: the reference machine ran 2 to
    3 times slower in some sittings than in others, so another machine's figures say little about this one's."""
    seen: dict[tuple[str, int], list[tuple[bool, float]]] = {}
    for f in Path(out).glob("*/result.json"):
        try:
            r = json.loads(f.read_text())
            measured = step(r)
        except (KeyError, TypeError, ValueError, ZeroDivisionError, json.JSONDecodeError):
            continue  # a cell without that step (a full-data cell has no student), or an older result
        if measured is None:
            continue
        key, per16 = measured
        here = machine is not None and (r.get("device") or {}).get("model") == machine
        seen.setdefault(key, []).append((here, per16))
    medians = {}
    for key, values in seen.items():
        chosen = sorted(v for here, v in values if here) or sorted(v for _, v in values)
        medians[key] = chosen[len(chosen) // 2]
    return medians


def step_seconds(detector: str, imgsz: int, batch: int, known: dict[tuple[str, int], float]) -> float | None:
    """Seconds per step of ``batch`` images at ``imgsz``: the nearest measured size, scaled by pixels."""
    sizes = [(size, s) for (det, size), s in known.items() if det == detector]
    if not sizes:
        return None
    size, s = min(sizes, key=lambda p: abs(p[0] - imgsz))
    return s * (imgsz / size) ** 2 * batch / 16


def training_steps(n: int, protocol) -> int:
    """The batches a detector trained on ``n`` images takes under ``protocol`` (its epochs, step floor included)."""
    return protocol.epochs_for(n) * math.ceil(n / min(protocol.batch, n))


def _teacher_key(c) -> tuple:
    from dcbench.harness.identity import make_detector
    from dcbench.harness.teacher import teacher_detector_id

    return (
        c.dataset,
        teacher_detector_id(make_detector(c.evaluation_detector if c.student_is_teacher() else c.detector)),
        c.seed,
    )


def _cached_teachers(cells: list, sizes: dict[str, int], fingerprints: dict) -> set[tuple]:
    """The teachers of ``cells`` that this machine's cache already holds (a spec that shares its teachers with
    another one, such as an ablation, trains none of them)."""
    from dcbench.harness.teacher import teacher_in_cache, teacher_key_for

    found = set()
    for c in cells:
        fingerprint = fingerprints.get((c.dataset, c.test_dataset), (None,))[0]
        if fingerprint is None or not (c.student_is_teacher() or c.uses_teacher()):
            continue
        key = _teacher_key(c)
        if key not in found and teacher_in_cache(
            teacher_key_for(fingerprint, sizes[c.dataset], key[1], c.protocol, c.seed)
        ):
            found.add(key)
    return found


@dataclass
class CellCost:
    """One cell's seconds per stage, nothing shared or cached taken off: its teacher's training (when it uses one),
    the making of its condensed set (0 for a method without ``estimated_steps``) and its students'."""

    uses_teacher: bool = False
    teacher_s: float = 0.0
    condense_s: float = 0.0
    student_s: float = 0.0
    unknown: set = field(default_factory=set)  # detectors a stage had no figure for: the cell is not counted


def cell_cost(c, n: int, costs: StepCosts, classes: int = DEFAULT_CLASSES) -> CellCost:
    """The stages of cell ``c`` on a ``n``-image train split of ``classes`` classes, at ``costs``."""
    from dcbench.budget import budget_for
    from dcbench.harness.identity import make_detector, make_method

    p, cost = c.protocol, CellCost()
    condensing, evaluating = make_detector(c.detector), make_detector(c.evaluation_detector)

    def need(seconds: float | None, backend) -> float:
        if seconds is None:
            cost.unknown.add(backend.name)
        return seconds or 0.0

    if c.student_is_teacher() or c.uses_teacher():
        teacher = evaluating if c.student_is_teacher() else condensing
        cost.uses_teacher = True
        cost.teacher_s = training_steps(n, p) * need(costs.teacher(teacher, p.imgsz, min(p.batch, n), classes), teacher)
    if c.student_is_teacher():
        return cost
    budget = budget_for(c.ratio, n)
    hint = getattr(make_method(c.method, c.method_options), "estimated_steps", None)
    if hint is not None:
        iterations, batch = hint(budget, p)
        cost.condense_s = iterations * need(costs.forge(condensing, p.imgsz, batch, classes), condensing)
    step = need(costs.train(evaluating, p.imgsz, min(p.batch, budget), classes), evaluating)
    if c.labels == DISTILL:
        step *= DISTILL_FACTOR
    cost.student_s = training_steps(budget, p) * step * p.student_repeats
    return cost


def estimate(
    cells: list,
    states: dict[str, str],
    sizes: dict[str, int],
    out: Path,
    fingerprints: dict | None = None,
    machine: str | None = None,
    *,
    costs: StepCosts | None = None,
    classes: dict[str, int] | None = None,
) -> Estimate:
    """``cells`` with their ``states`` (by cell name); ``sizes``: train-split size per dataset spec;
    ``fingerprints``: (train, test) fingerprints per (dataset, test dataset). With them, a teacher is taken as
    cached when this machine's teacher cache holds it (on a fresh machine, the teachers of finished cells train
    again); without them, when a finished cell used it. ``machine``: this machine's device model, whose own
    measurements are preferred. ``costs``: seconds per step (default: measured, ``measured_costs``); ``classes``:
    class count per dataset spec, for a FLOP count."""
    steps: StepCosts = costs if costs is not None else measured_costs(out, machine)
    est = Estimate(missing=steps.missing, gpu=steps.gpu, basis=steps.basis())
    done = [c for c in cells if states[c.cell_name()] == "done"]
    if fingerprints:
        teachers = _cached_teachers(cells, sizes, fingerprints)
    else:
        teachers = {_teacher_key(c) for c in done if c.student_is_teacher() or c.uses_teacher()}
    # a condensed set is made once and shared (both label modes of a row train on one set): counted once
    made = {c.condense_name() for c in done if not c.student_is_teacher()}
    for c in cells:
        if states[c.cell_name()] == "done":
            continue
        cost = cell_cost(c, sizes[c.dataset], steps, (classes or {}).get(c.dataset, DEFAULT_CLASSES))
        if cost.unknown:
            est.unknown |= cost.unknown
            continue
        if cost.uses_teacher and _teacher_key(c) not in teachers:
            teachers.add(_teacher_key(c))
            est.teachers += 1
            est.teacher_s += cost.teacher_s
        if cost.condense_s and c.condense_name() not in made:
            made.add(c.condense_name())
            est.condense_s += cost.condense_s
        est.student_s += cost.student_s
    return est
