"""What a detector backend provides. A backend is a class registered under a name; dcbench instantiates it with
the registered name's options and calls the four methods below. Heavy libraries are imported inside the
methods, never at module import.

All images and boxes cross this boundary as a :class:`~dcbench.data.model.DetectionDataset` (absolute pixel
boxes) and come back as :class:`~dcbench.evaluation.detections.Detections` in the same pixel frame, so one COCO
evaluator scores every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch

    from dcbench.data.model import DetectionDataset
    from dcbench.evaluation.detections import Detections
    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol


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
        """Train a freshly initialised detector (no pre-trained weights) on ``dataset``."""

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


def describe(backend: Any) -> str:
    return getattr(backend, "name", type(backend).__name__)
