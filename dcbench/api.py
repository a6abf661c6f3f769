"""The plugin contract of dcbench, in one module: every type a plugin implements or receives.

A plugin author reads this file and ``dcbench/plugins/hookspecs.py`` (the hooks that register plugins) and nothing
else. The registry checks registered targets against the Protocols below, the test kit (``dcbench.testing``) runs
them for real, and ``CONTRACT_VERSION`` says which contract a plugin was written for.

What a plugin implements:

* :class:`CondensationMethod` -- a class; dcbench calls ``Method(**options).condense(train_set, budget,
  context=CondenseContext(...))`` and gets a :class:`CondensedSet` written with :func:`write_condensed`;
* :class:`DetectorBackend` -- a class with ``train``, ``predict``, ``features`` and ``inversion_target``;
* :class:`DatasetLoader` -- a callable ``load(arg) -> DetectionDataset``.

What a plugin receives or returns: :class:`DetectionDataset` and :class:`ImageRecord` (images with absolute
``x1, y1, x2, y2`` pixel boxes), :class:`CondenseContext` with the Fetch :class:`Teacher`, the training
:class:`TrainProtocol`, :class:`Checkpoint`, :class:`Detections` (a backend's predictions, in the pixels of the
image they were made on), :class:`InversionTarget` (a frozen detector with a differentiable loss). What the harness
writes for every cell is a :class:`ResultRecord` (``result.json``, defined in ``dcbench.results``).

What a plugin builds on, all importable from here (``__all__`` lists them): the errors it raises
(:class:`DatasetError` naming a file, :class:`ConfigError`, :class:`RegistryError`), the :class:`Reporter` its
long stages report to, the :class:`Registrar` its hooks receive, the dataset helpers (:func:`make_record` validates
an image's boxes, :func:`safe_join` a file name, :func:`read_image_size` and :func:`open_rgb` read images as
displayed, :func:`split_options` parses ``path?k=v``), the selection helpers (:class:`IndexSelection`,
:func:`rng_for`, :func:`budget_for`) and :func:`letterbox`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from dcbench.budget import budget_for
from dcbench.condensed import MANIFEST, CondensedSet, load_condensed, write_condensed
from dcbench.data.files import read_class_names
from dcbench.data.images import open_rgb, oriented_size
from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport
from dcbench.data.spec import split_options
from dcbench.data.validate import make_record, read_image_size, require_images, safe_join
from dcbench.errors import ConfigError, DatasetError, DcbenchError, RegistryError
from dcbench.evaluation.detections import Detections
from dcbench.flops import count_flops
from dcbench.io import Letterbox, letterbox
from dcbench.methods.selection import IndexSelection, rng_for
from dcbench.plugins.hookspecs import CONTRACT_VERSION  # defined with the hooks, read by the plugin loader
from dcbench.plugins.registry import Registrar
from dcbench.progress import SILENT, Reporter
from dcbench.protocols import Protocol as TrainProtocol
from dcbench.results import RESULT_FILE, RESULT_SCHEMA, ResultRecord, read_result_record

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [  # everything a plugin author implements, receives, raises or builds on: import it from here
    "budget_for",
    "Checkpoint",
    "CondensationMethod",
    "CondenseContext",
    "CondensedSet",
    "ConfigError",
    "count_flops",
    "CONTRACT_VERSION",
    "DatasetError",
    "DatasetLoader",
    "DcbenchError",
    "DetectionDataset",
    "Detections",
    "DetectorBackend",
    "ImageRecord",
    "IndexSelection",
    "InversionTarget",
    "Letterbox",
    "letterbox",
    "load_condensed",
    "LoadReport",
    "make_record",
    "MANIFEST",
    "open_rgb",
    "oriented_size",
    "read_class_names",
    "read_image_size",
    "read_result_record",
    "Registrar",
    "RegistryError",
    "Reporter",
    "require_images",
    "RESULT_FILE",
    "RESULT_SCHEMA",
    "ResultRecord",
    "rng_for",
    "safe_join",
    "SILENT",
    "split_options",
    "Teacher",
    "TrainProtocol",
    "write_condensed",
]


# -- detector backends ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """A trained detector on disk: the backend that made it, its weight file, and how it was trained."""

    detector: str
    path: Path
    meta: dict = field(default_factory=dict)


@dataclass
class InversionTarget:
    """A frozen detector and its differentiable training loss, for model inversion (DCOD's Forge).

    ``loss(images, targets)`` takes ``images`` of shape (B, 3, S, S) with values in [0, 1] on ``device`` and
    ``targets``, one ``(boxes (n, 4) xyxy pixels on the S x S canvas, labels (n,))`` pair of tensors per image, and
    returns the detection loss (box + objectness/classification terms) as a scalar tensor, averaged over the batch.
    The module is in eval mode (BatchNorm uses its running statistics) and its parameters do not require grad.
    """

    module: torch.nn.Module
    loss: Callable[[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]], torch.Tensor]
    image_size: int
    device: str
    num_classes: int


@runtime_checkable
class DetectorBackend(Protocol):
    """A detector family. Instantiated with what follows ``NAME:`` in a detector spec (``ultralytics:yolov8n.yaml``)
    or with no argument. Heavy libraries are imported inside the methods, never at module import. Every image and
    box crosses this boundary as a DetectionDataset and comes back as Detections, so one evaluator scores all.
    Optional method: ``step_flops(imgsz, classes) -> (forge, train)``, one image's FLOPs of a forge step and of a
    training step, for ``dcbench matrix --dry-run --gpu``'s model (``harness.gpu_cost``). Optional attribute:
    ``recipe_version`` (an int), bumped when ``train`` changes how it trains under the same name; it is part of
    the cached teacher's key, so no teacher of an older recipe is reused. Distilled students (``labels = distill``):
    ``distills = True``, ``train(..., distill=teacher)`` adding the distillation term, and optionally
    ``check_distill_teacher(teacher_backend)``, raising ``ConfigError`` in one line, before anything trains, for a
    teacher whose models this student cannot distil from."""

    name: str

    def train(
        self,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        seed: int,
        workdir: Path,
        device: str,
        reporter: Reporter | None = None,
    ) -> Checkpoint:
        """Train a freshly initialised detector (no pre-trained weights) on ``dataset``, for
        ``protocol.epochs_for(len(dataset))`` epochs at ``protocol.imgsz`` and ``protocol.batch`` (teachers are
        cached by those values). Every image of ``dataset`` must be trained on, or the call fails naming the one
        that could not be read."""

    def predict(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> list[Detections]:
        """Detections for every image of ``dataset``, in its order, in original-image pixels."""

    def features(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> np.ndarray:
        """(N, D) float32 whole-image embeddings (global-pooled backbone output), for feature-based selection."""

    def inversion_target(self, checkpoint: Checkpoint, *, protocol: TrainProtocol, device: str) -> InversionTarget:
        """The frozen detector with a differentiable loss (see :class:`InversionTarget`)."""


# -- condensation methods ------------------------------------------------------------------------------------------
@dataclass
class Teacher:
    """The Fetch detector: trained on the full train split, frozen. What feature-based selectors, DCOD and OD3 use:
    ``teacher.backend.predict(teacher.checkpoint, ...)`` runs it on any DetectionDataset."""

    backend: DetectorBackend
    checkpoint: Checkpoint
    protocol: TrainProtocol
    device: str


@dataclass
class CondenseContext:
    """Everything a method may need besides the train set and budget. ``teacher`` is None unless the method
    ``requires_teacher``; ``workdir`` is shared by every cell that needs the same condensed set; every random
    choice comes from ``seed`` (``dcbench.methods.selection.rng_for``), never the clock."""

    teacher: Teacher | None
    seed: int
    workdir: Path
    protocol: TrainProtocol
    device: str
    reporter: Reporter | None = None


@runtime_checkable
class CondensationMethod(Protocol):
    """A condensation method: a class instantiated with the user's options (``Method(**options)``; an unknown
    option must raise ``dcbench.errors.ConfigError``).

    Required class attribute: ``name``, the method's name as its manifests record it. Optional class attributes:
    ``bookkeeping_options`` (options that change reporting only, left out of a cell's
    identity), ``student_is_teacher`` (the method keeps the whole train split: the harness reuses the teacher as
    its student), ``protocol_fields`` (the protocol's method-only fields it reads, e.g. DCOD's forge length: a change
    to them makes its results stale, and no other method's). Optional method: ``estimated_steps(budget, protocol)
    -> (teacher_steps, images_per_step)`` for ``dcbench matrix --dry-run``'s time estimate."""

    name: ClassVar[str]
    requires_teacher: ClassVar[bool]  # may also be a property: read off the configured instance
    bookkeeping_options: ClassVar[tuple[str, ...]]
    student_is_teacher: ClassVar[bool]
    protocol_fields: ClassVar[tuple[str, ...]]

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        """Return exactly ``budget`` images with boxes, written under ``context.workdir`` with
        :func:`write_condensed` (a manifest with at least method, budget and seed); deterministic per seed."""

    def describe(self) -> dict[str, Any]:
        """Every option as used, defaults included (a result whose recorded options differ from what this gives now
        is stale). May include ``version``: bump it when behaviour changes with no option to show it."""


# -- datasets ------------------------------------------------------------------------------------------------------
@runtime_checkable
class DatasetLoader(Protocol):
    """``load(arg)``: ``arg`` is what follows the first ``:`` of a dataset spec (``voc:DIR`` gives ``"DIR"``,
    ``shapes`` gives None). Returns a DetectionDataset with ``train``/``trainval`` and ``test``/``val`` splits where
    the data has them; build records with ``dcbench.data.validate.make_record`` and paths with ``safe_join`` to get
    dcbench's validation and one-line errors naming the file."""

    def __call__(self, arg: str | None) -> DetectionDataset: ...
