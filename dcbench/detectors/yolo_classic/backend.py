"""The classic YOLOv3 backends: ``yolov3-spp-classic`` (the DCOD paper's detector), ``yolov3-classic`` and
``yolov3-tiny-classic``, written from the spec of the archive-era anchor-based YOLOv3 (``yolov3-classic.md``, in
the project's shared docs) and PyTorch / torchvision alone.

Unlike the ``yolov3*`` Ultralytics configs (anchor-free heads), these have the original three-anchor heads, the
archive's loss and training recipe (model.py, loss.py, train.py say which sections each follows and what is left
out) and its evaluation NMS (postprocess.py). Trained from scratch on letterboxed images at the protocol's ``imgsz``
(a multiple of 32); predictions use the same letterbox, conf 0.001 and IoU 0.6. The checkpoint is the EMA model's
state dict with its architecture and class count. ``labels=distill`` is not supported (no ``distills``).

The inversion target is the frozen EMA model in eval mode, with the loss DIODE inverts through (section 6): the same
GIoU / objectness / class loss, iou_t 0.225, objectness target 1 at positives (gr 0); every BatchNorm layer, neck
and head included, is a plain ``nn.BatchNorm2d`` module for the forge's statistics prior.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dcbench.api import Checkpoint, InversionTarget
from dcbench.data.model import DetectionDataset
from dcbench.detectors.rcnn_common import frozen, pooled_coarsest_level, predict_in_chunks, save_weights
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections
from dcbench.progress import SILENT

if TYPE_CHECKING:
    import torch

    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol


COARSEST_STRIDE = 32  # input sides must be multiples of it, or the upsampled maps do not line up with the taps


def _check_size(imgsz: int, name: str) -> None:
    if imgsz % COARSEST_STRIDE:
        raise ConfigError(f"{name}: the image size must be a multiple of 32 (the coarsest stride), got {imgsz}")


def _canvases(records, imgsz: int, device: str):
    """Letterboxed images (B, 3, S, S) in [0, 1] on ``device`` and how each was placed."""
    import torch

    from dcbench.io import letterbox

    placed = [letterbox(im.file, imgsz) for im in records]
    batch = torch.from_numpy(np.stack([canvas for canvas, _ in placed])).to(device)
    return batch.permute(0, 3, 1, 2).float().div(255), [lb for _, lb in placed]


def _to_image(boxes: np.ndarray, placed, record) -> np.ndarray:
    """Canvas boxes back to the original image's pixels, clipped to it."""
    out = boxes.copy()
    out[:, [0, 2]] = ((out[:, [0, 2]] - placed.pad_x) / placed.scale).clip(0, record.width)
    out[:, [1, 3]] = ((out[:, [1, 3]] - placed.pad_y) / placed.scale).clip(0, record.height)
    return out


class ClassicYOLOv3:
    """Darknet-53 YOLOv3 with anchor heads, archive-era recipe; takes no argument."""

    name = "yolov3-classic"
    arch = "yolov3"
    # 2: mosaic training (train.py); teachers cached by recipe 1 trained without it and overfit small sets
    recipe_version = 2

    def __init__(self, arg: str | None = None):
        if arg:
            raise ConfigError(f"{self.name} takes no argument, got {arg!r}")

    def step_flops(self, imgsz: int, classes: int) -> tuple[float, float]:
        """FLOPs of one image's forge step (frozen, to the pixels) and training step at ``imgsz``, for ``dcbench
        matrix --dry-run --gpu``. Counted at 64 px and scaled by pixels: every layer is a convolution, whose FLOPs
        grow exactly with them."""
        import torch

        from dcbench.detectors.yolo_classic.loss import DIODE, TRAIN, compute_loss, normalised_targets
        from dcbench.detectors.yolo_classic.model import build
        from dcbench.flops import count_flops

        size = 64
        model = build(self.arch, classes)
        heads = model.heads()
        targets = normalised_targets([(torch.tensor([[8.0, 8.0, 40.0, 40.0]]), torch.tensor([0]))], size, size)

        def step(gains) -> None:
            image = torch.rand(1, 3, size, size, requires_grad=True)
            out = model(image)
            raws = out if model.training else out[1]  # training returns the raw heads alone
            compute_loss(raws, targets, heads, classes, gains)[0].backward()

        model.train()
        train = count_flops(lambda: step(TRAIN))
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        forge = count_flops(lambda: step(DIODE))
        scale = (imgsz / size) ** 2
        return forge * scale, train * scale

    def _load(self, checkpoint: Checkpoint, device: str):
        import torch

        from dcbench.detectors.yolo_classic.model import build

        state = torch.load(checkpoint.path, map_location="cpu", weights_only=True)  # tensors, ints and text only
        model = build(state["arch"], state["num_classes"])
        model.load_state_dict(state["model"])
        return model.to(device).eval(), state

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
        import torch

        from dcbench.detectors.yolo_classic import train as recipe
        from dcbench.detectors.yolo_classic.model import build

        _check_size(protocol.imgsz, self.name)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)  # the initial weights
        model = build(self.arch, dataset.num_classes).to(device)
        ema, record = recipe.train(
            model, dataset, protocol=protocol, seed=seed, device=device, reporter=reporter or SILENT, name=self.name
        )
        target = save_weights(ema, workdir, num_classes=dataset.num_classes, imgsz=protocol.imgsz, arch=self.arch)
        return Checkpoint(self.name, target, {"arch": self.arch, "images": len(dataset), **record})

    def predict(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> list[Detections]:
        from dcbench.detectors.yolo_classic.postprocess import non_max_suppression

        _check_size(protocol.imgsz, self.name)
        model, _ = self._load(checkpoint, device)

        def detect(records):
            images, placed = _canvases(records, protocol.imgsz, device)
            decoded, _ = model(images)
            found = []
            for (boxes, scores, labels), lb, im in zip(non_max_suppression(decoded), placed, records):
                found.append(
                    Detections(_to_image(boxes.cpu().numpy(), lb, im), scores.cpu().numpy(), labels.cpu().numpy())
                )
            return found

        return predict_in_chunks(dataset, detect, reporter=reporter or SILENT)

    def features(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> np.ndarray:
        """The backbone's stride-32 map (1024 channels), global-average-pooled, on letterboxed images."""
        _check_size(protocol.imgsz, self.name)
        model, _ = self._load(checkpoint, device)
        return pooled_coarsest_level(
            dataset,
            lambda records: model.features(_canvases(records, protocol.imgsz, device)[0]),
            reporter=reporter or SILENT,
        )

    def inversion_target(self, checkpoint: Checkpoint, *, protocol: TrainProtocol, device: str) -> InversionTarget:
        from dcbench.detectors.yolo_classic.loss import DIODE, compute_loss, normalised_targets

        _check_size(protocol.imgsz, self.name)
        model, state = self._load(checkpoint, device)
        frozen(model)
        heads, nc = model.heads(), int(state["num_classes"])

        def loss(images: torch.Tensor, targets) -> torch.Tensor:
            _, raws = model(images)
            t = normalised_targets(targets, images.shape[-1], images.shape[-2])
            return compute_loss(raws, t, heads, nc, DIODE, gr=0.0)[0]

        return InversionTarget(model, loss, protocol.imgsz, device, nc)


class ClassicYOLOv3SPP(ClassicYOLOv3):
    """YOLOv3-SPP with anchor heads (the DCOD paper's detector), archive-era recipe."""

    name = "yolov3-spp-classic"
    arch = "yolov3-spp"


class ClassicYOLOv3Tiny(ClassicYOLOv3):
    """YOLOv3-tiny with anchor heads (two scales), archive-era recipe."""

    name = "yolov3-tiny-classic"
    arch = "yolov3-tiny"
