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
writes for every cell is a :class:`ResultRecord` (``result.json``).

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
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, runtime_checkable

from dcbench.budget import budget_for
from dcbench.condensed import MANIFEST, CondensedSet, load_condensed, write_condensed
from dcbench.data.files import read_class_names
from dcbench.data.images import open_rgb, oriented_size
from dcbench.data.model import DetectionDataset, ImageRecord, LoadReport
from dcbench.data.spec import split_options
from dcbench.data.validate import make_record, read_image_size, require_images, safe_join
from dcbench.errors import ConfigError, DatasetError, DcbenchError, RegistryError
from dcbench.evaluation.detections import Detections
from dcbench.io import Letterbox, json_kind, letterbox
from dcbench.methods.selection import IndexSelection, rng_for
from dcbench.plugins.hookspecs import CONTRACT_VERSION  # defined with the hooks, read by the plugin loader
from dcbench.plugins.registry import Registrar
from dcbench.progress import SILENT, Reporter
from dcbench.protocols import Protocol as TrainProtocol

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
    box crosses this boundary as a DetectionDataset and comes back as Detections, so one evaluator scores all."""

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


# -- the result of a cell ------------------------------------------------------------------------------------------
RESULT_FILE = "result.json"
RESULT_SCHEMA = 2  # 2 added "plugin" (the package that provided the method); schema 1 files are still read


class ResultRecord(TypedDict, total=False):
    """One cell's ``result.json``, written atomically by the harness as its very last step (its presence means the
    cell is finished) and the only thing leaderboards and the matrix's resume logic read."""

    schema: int
    cell: str  # the cell's name: dataset identity, method, detector, variant, ratio, seed, protocol id
    status: str  # "ok"
    config: dict[str, Any]  # the CellConfig: method, detector, ratio, seed, protocol (all values), dataset, labels, ...
    method: dict[str, Any]  # name, variant (the options that name the row), options (describe(), all of them)
    plugin: dict[str, Any]  # schema 2: the distribution that registered the method (name, version), or "dcbench"
    detector: str
    eval_detector: str
    data: dict[str, Any]  # split sizes and rule, categories, train and test fingerprints
    budget: int
    effective_ratio: float
    warnings: list[str]
    teacher: dict[str, Any] | None  # where the Fetch teacher came from (None for cells that use none)
    condensed: dict[str, Any]  # path, images, boxes, manifest, whether reused and what making it took
    # with config["labels"] == "teacher": the score, the teacher, the stored set's boxes against the teacher's (the
    # student's); "condensed" is then the relabelled copy, with the stored set under condensed["stored"]
    labels: dict[str, Any]
    student: dict[str, Any]  # the trained evaluation detector: checkpoint, epochs, images
    # COCO's twelve (mAP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl) on a 0-100 scale, None =
    # undefined; and per_class_AP, {class name: AP or None}
    metrics: dict[str, Any]
    predictions: list[str]  # the students' test-set predictions beside result.json, COCO results files
    classes: dict[str, Any]  # test classes with no box in the set the student trained on, and in the train split
    evaluator: dict[str, str | None]  # the COCO evaluator that scored it (name, version); absent in older results
    metrics_per_student: list[dict[str, Any]]  # with protocol.student_repeats > 1: metrics is their mean
    timings: dict[str, float]  # seconds per stage
    device: dict[str, Any]  # name, model; on a CPU also cores and torch threads (absent in older results)
    environment: dict[str, str | None]  # library versions (None: not installed), machine
    git: dict[str, object] | None  # revision and whether the tree was dirty; None outside a git checkout
    finished: str  # ISO time


_REQUIRED = ("cell", "config", "metrics", "budget", "condensed", "method")
# what each required key must hold: a leaderboard or the matrix reads them without checking again
_REQUIRED_TYPES = {"cell": str, "config": dict, "metrics": dict, "budget": int, "condensed": dict, "method": dict}


def read_result_record(path: str | Path) -> ResultRecord:
    """A result file as a ResultRecord (schema 1 files upgraded); a one-line DatasetError naming the file when it
    is not one: unreadable, not UTF-8 JSON, not an object, a required key missing or of the wrong type, a schema
    that is not a whole number, or one newer than this dcbench reads (never taken for an older one)."""
    import json

    from dcbench.errors import DatasetError

    path = Path(path)

    def bad(problem: str) -> DatasetError:
        return DatasetError(path, f"not a dcbench result file ({problem})")

    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise bad(f"{type(exc).__name__}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError, as is an int too long to read
        raise bad(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(record, dict):
        raise bad("not a JSON object")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise bad(f"KeyError: {missing[0]!r}")
    for key, kind in _REQUIRED_TYPES.items():
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise bad(f"{key!r} is {json_kind(record[key])}, expected {json_kind(kind())}")
    schema = record.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise bad(f"schema {json.dumps(schema)[:40]} is not a schema number")
    if schema > RESULT_SCHEMA:
        raise DatasetError(
            path, f"written by a newer dcbench (result schema {schema}; this one reads up to {RESULT_SCHEMA})"
        )
    if schema < 2:
        record.setdefault("plugin", {"name": "unknown (schema 1)", "version": None})
    return record  # type: ignore[return-value]
