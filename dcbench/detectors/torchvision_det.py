"""torchvision detection backend: Faster R-CNN (ResNet-50-FPN, its v2, MobileNetV3-FPN) trained from scratch.

Always available with the base install. Models are built with ``weights=None, weights_backbone=None`` (nothing is
downloaded; torchvision then uses trainable BatchNorm instead of frozen BN, and trains every backbone layer, as
training from scratch requires). Training follows torchvision's detection reference recipe in miniature: SGD
(momentum 0.9, weight decay 1e-4), lr 0.02 x batch / 16 with a linear warm-up and cosine decay, horizontal flips.
Image size: the protocol's ``imgsz`` is the longer side (``min_size = max_size = imgsz``). torchvision's default
anchor sizes (32-512 px) assume 800 px inputs; they are scaled by ``imgsz / 800`` (at least 4 px) so that the
anchors cover the same fraction of the image at every protocol.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dcbench.api import Checkpoint, InversionTarget
from dcbench.data.model import DetectionDataset
from dcbench.detectors.rcnn_common import (
    frozen,
    loss_mode,
    pooled_coarsest_level,
    predict_in_chunks,
    save_weights,
    scaled_anchor_sizes,
    train_from_scratch,
)
from dcbench.errors import ConfigError
from dcbench.evaluation.detections import Detections
from dcbench.progress import SILENT

if TYPE_CHECKING:
    from dcbench.detectors.rcnn_loader import LoaderWorkers
    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol

ARCHITECTURES = (
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
)


def _fpn_levels(arch: str) -> int:
    """The FPN levels a torchvision architecture distils (its pooled level left out): MobileNet's two, ResNet's four."""
    return 2 if "mobilenet" in arch else 4


def _image_tensor(path):
    import torch

    from dcbench.data.images import open_rgb

    arr = np.asarray(open_rgb(path))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255)


class _FPNDistiller:
    """Called after the student's forward: the weighted PKD between the FPN levels its backbone returned and the
    teacher backbone's on the same input. A hook on the student's backbone catches both, once per step. Every level
    but the pooled one is distilled, as OD3's config distils P2-P5 of ResNet-50-FPN and not P6 (MobileNet's FPN has
    two levels besides its pooled one)."""

    def __init__(self, student, teacher, log):
        self.teacher, self.log = teacher, log
        self.seen: list = []
        self.handle = student.backbone.register_forward_hook(lambda _m, inputs, out: self.seen.append((inputs[0], out)))

    def __call__(self):
        import torch

        from dcbench.detectors.distill import PKD_WEIGHT, pkd

        batch, student_maps = self.seen[-1]
        self.seen.clear()
        with torch.no_grad():
            teacher_maps = self.teacher.backbone(batch)
        levels = [k for k in student_maps if k != "pool"]
        value = pkd([student_maps[k] for k in levels], [teacher_maps[k] for k in levels], PKD_WEIGHT)
        self.log.add(float(value.detach()))
        return value

    def close(self) -> None:
        self.handle.remove()


def train_sample(record, flip: bool):
    """One training image (3, H, W, RGB in [0, 1]) and its target on the CPU, flipped horizontally when ``flip``
    (the sampler draws it). What the DataLoader's workers run: module-level, so it pickles."""
    import torch

    x = _image_tensor(record.file)
    keep = ~record.ignore
    boxes = torch.from_numpy(record.boxes[keep].copy())
    if flip:
        x = x.flip(-1)
        w = record.width
        boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
    # background is class 0 in torchvision: dataset class k is label k + 1
    return x, {"boxes": boxes.reshape(-1, 4), "labels": torch.from_numpy(record.labels[keep].copy()) + 1}


class TorchvisionDetector:
    """``torchvision:ARCH`` with ARCH one of :data:`ARCHITECTURES`. ``loader_workers``: the training input's
    DataLoader workers (see :func:`dcbench.detectors.rcnn_loader.resolve_workers`)."""

    loader_workers: LoaderWorkers = "auto"
    distills = True  # train(..., distill=teacher) adds PKD from a frozen torchvision teacher (labels = distill)

    def __init__(self, arg: str | None = None):
        arch = arg or "fasterrcnn_mobilenet_v3_large_fpn"
        if arch not in ARCHITECTURES:
            raise ConfigError(f"unknown torchvision detector {arch!r} (known: {', '.join(ARCHITECTURES)})")
        self.arch = arch
        self.name = f"torchvision:{arch}"

    def anchor_sizes(self, imgsz: int) -> tuple[tuple[int, ...], ...]:
        scaled = scaled_anchor_sizes(imgsz)
        if _fpn_levels(self.arch) == 2:  # MobileNet: two feature maps (plus pool), each with every size
            return (scaled,) * 3
        return tuple((s,) for s in scaled)  # one size per FPN level

    def _build(self, num_classes: int, imgsz: int):
        from torchvision.models import detection
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        builder = getattr(detection, self.arch)
        # background is class 0 in torchvision; dataset class k is label k + 1
        model = builder(
            weights=None,
            weights_backbone=None,
            num_classes=num_classes + 1,
            min_size=imgsz,
            max_size=imgsz,
            box_detections_per_img=100,
            box_score_thresh=0.001,
        )
        sizes = self.anchor_sizes(imgsz)
        default = model.rpn.anchor_generator
        if [len(s) for s in default.sizes] != [len(s) for s in sizes]:
            raise RuntimeError(f"{self.arch}: unexpected anchor layout {default.sizes}")
        # same number of anchors per location as the default, so the RPN head keeps its shape
        model.rpn.anchor_generator = AnchorGenerator(sizes, default.aspect_ratios)
        return model

    def _load(self, checkpoint: Checkpoint, device: str):
        import torch

        state = torch.load(checkpoint.path, map_location="cpu", weights_only=False)
        model = self._build(state["num_classes"], state["imgsz"])
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
        distill=None,
    ) -> Checkpoint:
        """A fresh detector trained on ``dataset``; with ``distill`` (a :class:`dcbench.api.Teacher` of this
        backend), with PKD from that frozen teacher's FPN levels added to its losses (``labels = distill``)."""
        import torch

        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)  # the initial weights
        model = self._build(dataset.num_classes, protocol.imgsz).to(device)
        kd = self._distiller(model, distill, dataset, protocol, device) if distill is not None else None

        def step_losses(samples):
            xs = [x.to(device, non_blocking=True) for x, _ in samples]
            ts = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for _, t in samples]
            losses = model(xs, ts)
            return {**losses, "pkd": kd()} if kd is not None else losses

        record = train_from_scratch(
            model,
            dataset,
            train_sample,
            step_losses,
            protocol=protocol,
            seed=seed,
            name=self.arch,
            reporter=reporter or SILENT,
            device=device,
            workers=self.loader_workers,
        )
        target = save_weights(model, workdir, num_classes=dataset.num_classes, imgsz=protocol.imgsz, arch=self.arch)
        meta = {
            "arch": self.arch,
            "images": len(dataset),
            **record,
            "anchor_sizes": [list(a) for a in self.anchor_sizes(protocol.imgsz)],
        }
        if kd is not None:
            from dcbench.detectors.distill import PKD_WEIGHT

            kd.close()
            meta["distill"] = {**kd.log.as_dict(PKD_WEIGHT), "levels": "every FPN level but the pooled one"}
        return Checkpoint(self.name, target, meta)

    def check_distill_teacher(self, teacher_backend) -> None:
        """One line, before anything trains, when this student cannot distil from ``teacher_backend``'s models:
        another family, or another FPN (ResNet's four levels at strides 4-32 against MobileNet's two coarse ones, which
        would pair maps of different strides). Every architecture here has 256-channel levels; the loaded models are
        checked again."""
        if not isinstance(teacher_backend, TorchvisionDetector):
            raise ConfigError(
                f"labels=distill: a torchvision student distils from a torchvision teacher, not {teacher_backend.name}"
            )
        if _fpn_levels(self.arch) != _fpn_levels(teacher_backend.arch):
            raise ConfigError(
                f"labels=distill: the student {self.name} has {_fpn_levels(self.arch)} FPN levels and the teacher "
                f"{teacher_backend.name} {_fpn_levels(teacher_backend.arch)}; dcbench distils between models of the "
                f"same levels only (a ResNet-50 pair or a MobileNet pair)"
            )

    def _distiller(self, model, distill, dataset, protocol, device: str):
        """What adds PKD to a training step: the student's FPN maps on its batch and the frozen teacher's on the
        very same batch tensor (after the student's transform), levels P2-P5 as OD3 distils."""
        from dcbench.detectors.distill import DistillLog, check_widths

        self.check_distill_teacher(distill.backend)
        teacher, _ = distill.backend._load(distill.checkpoint, device)
        frozen(teacher)
        check_widths(
            [model.backbone.out_channels] * 4, [teacher.backbone.out_channels] * 4, self.name, distill.backend.name
        )
        steps = math.ceil(len(dataset) / min(protocol.batch, len(dataset)))
        return _FPNDistiller(model, teacher, DistillLog(steps_per_epoch=steps))

    def predict(
        self,
        checkpoint: Checkpoint,
        dataset: DetectionDataset,
        *,
        protocol: TrainProtocol,
        device: str,
        reporter: Reporter | None = None,
    ) -> list[Detections]:
        model, _ = self._load(checkpoint, device)

        def detect(records):
            found = model([_image_tensor(im.file).to(device) for im in records])
            # torchvision reserves label 0 for the background
            return [
                Detections(r["boxes"].cpu().numpy(), r["scores"].cpu().numpy(), (r["labels"] - 1).cpu().numpy())
                for r in found
            ]

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
        """Global-average-pooled coarsest FPN level of the backbone, on the model's own resized input."""
        model, _ = self._load(checkpoint, device)

        def coarsest(records):
            batch, _ = model.transform([_image_tensor(im.file).to(device) for im in records])
            return list(model.backbone(batch.tensors).values())[-1]  # "0" ... "pool", in order

        return pooled_coarsest_level(dataset, coarsest, reporter=reporter or SILENT)

    def inversion_target(self, checkpoint: Checkpoint, *, protocol: TrainProtocol, device: str) -> InversionTarget:
        import torch

        model, state = self._load(checkpoint, device)
        frozen(model)

        def loss(images: torch.Tensor, targets) -> torch.Tensor:
            ts = [{"boxes": b.to(images).reshape(-1, 4), "labels": lb.to(device).long() + 1} for b, lb in targets]
            with loss_mode(model):
                losses = model(list(images), ts)
            return sum(losses.values())

        return InversionTarget(model, loss, protocol.imgsz, device, state["num_classes"])
