"""What a condensation method provides, and the condensed set it produces.

A method is a class registered under a name. dcbench instantiates it with the user's options
(``method_cls(**options)``) and calls ``condense``. A method that needs the Fetch teacher sets
``requires_teacher = True``; dcbench then trains (or reuses) it and passes it in.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from dcbench.errors import ConfigError

if TYPE_CHECKING:
    from dcbench.data.model import DetectionDataset
    from dcbench.detectors.base import Checkpoint, DetectorBackend
    from dcbench.methods.condensed import CondensedSet
    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol


@dataclass
class Teacher:
    """The Fetch detector: trained on the full train split, frozen. What feature-based selectors and DCOD use."""

    backend: DetectorBackend
    checkpoint: Checkpoint
    protocol: TrainProtocol
    device: str


@dataclass
class CondenseContext:
    """Everything a method may need besides the train set and budget."""

    teacher: Teacher | None
    seed: int
    workdir: Path
    protocol: TrainProtocol
    device: str
    reporter: Reporter | None = None


@runtime_checkable
class CondensationMethod(Protocol):
    requires_teacher: ClassVar[bool]
    # optional: names of options that change reporting only (snapshots...), excluded from a cell's identity
    bookkeeping_options: ClassVar[tuple[str, ...]]
    # optional: the method keeps the whole train split (the full-data row), so its student is the evaluation
    # detector's Fetch teacher and the harness reuses that instead of training it again
    student_is_teacher: ClassVar[bool]
    # optional: protocol fields beyond the training ones that the method reads (DCOD: forge_iterations,
    # forge_batch); a change to one of them makes this method's finished results stale, and no other method's
    protocol_fields: ClassVar[tuple[str, ...]]

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        """Return ``budget`` images with boxes, written under ``context.workdir`` (see :mod:`condensed`)."""

    def describe(self) -> dict[str, Any]:
        """The method's options as used, recorded in the manifest and the result."""


def needs_teacher(method: Any) -> bool:
    """Whether this method *instance* needs the Fetch teacher. Read off the instance, never the class: whether a
    method needs one may depend on its options (K-Center with ``extractor=resnet50:PATH`` does not)."""
    return bool(getattr(method, "requires_teacher", False))


def budget_for(ratio: float, n_train: int) -> int:
    """M = round(ratio * N) (halves round up), at least 1. Warns when rounding moves the ratio by over 10 %."""
    if not isinstance(ratio, (int, float)) or math.isnan(ratio) or not 0 < ratio <= 1:
        raise ConfigError(f"ratio must be a fraction in (0, 1], got {ratio!r} (1 % is 0.01)")
    if n_train < 1:
        raise ConfigError("the training set is empty")
    budget = max(1, math.floor(ratio * n_train + 0.5))
    effective = budget / n_train
    if abs(effective - ratio) / ratio > 0.10:
        warnings.warn(
            f"ratio {ratio:g} of {n_train} images gives {budget} image(s): an effective ratio of {effective:.4g}",
            stacklevel=2,
        )
    return budget
