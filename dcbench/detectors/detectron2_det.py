"""Detectron2 backend (Apache-2.0): Faster R-CNN from a model-zoo config, trained from scratch.

Install: the official way is from Detectron2's repository (see docs/detectors.md); ``python scripts/install_detectron2.py``
installs its pure-Python part where building it is not possible. Nothing is downloaded at run time:
``MODEL.WEIGHTS`` is emptied, and training from scratch uses ``MODEL.RESNETS.NORM = "BN"`` with nothing frozen
(``MODEL.BACKBONE.FREEZE_AT = 0``); with the config's frozen BN the loss diverges. Images are resized so that
their longer side is the protocol's ``imgsz`` (as the torchvision backend does), anchors are scaled by
``imgsz / 800`` like there, and predictions are mapped back to the original pixels and scored by dcbench's
evaluator (not Detectron2's COCOEvaluator).
"""

from __future__ import annotations

import functools
import warnings
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

CONFIGS = {
    "faster_rcnn_R_50_FPN": "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
    "faster_rcnn_R_101_FPN": "COCO-Detection/faster_rcnn_R_101_FPN_3x.yaml",
}


def _import():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import detectron2  # noqa: F401
            from detectron2 import model_zoo  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"Detectron2 is not installed ({exc}): install it from its repository, or run "
            "`python scripts/install_detectron2.py` (see docs/detectors.md)"
        ) from None


def _resized(path, imgsz: int):
    """(3, h, w) float BGR 0-255 tensor with the longer side ``imgsz``, and the scale applied."""
    import torch
    from PIL import Image

    from dcbench.data.images import open_rgb

    rgb = open_rgb(path)
    scale = imgsz / max(rgb.width, rgb.height)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    arr = np.asarray(rgb.resize(size, Image.Resampling.BILINEAR))[:, :, ::-1].copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float(), scale


def train_sample(record, flip: bool, *, imgsz: int) -> dict:
    """One training image resized to ``imgsz`` (BGR 0-255) with its boxes scaled and, when ``flip`` (the sampler
    draws it), both flipped horizontally; plain CPU tensors, so that DataLoader workers can build it without
    Detectron2's structures (the step wraps them in ``Instances`` on the device)."""
    import torch

    x, scale = _resized(record.file, imgsz)
    keep = ~record.ignore
    boxes = torch.from_numpy(record.boxes[keep].copy()) * scale
    if flip:
        x = x.flip(-1)
        w = x.shape[-1]
        boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
    classes = torch.from_numpy(record.labels[keep].copy())
    return {
        "image": x,
        "boxes": boxes.reshape(-1, 4),
        "classes": classes,
        "height": record.height,
        "width": record.width,
    }


def _train_inputs(samples: list[dict], device: str) -> list[dict]:
    """Detectron2's training inputs for a batch of :func:`train_sample` samples, on ``device``."""
    from detectron2.structures import Boxes, Instances

    inputs = []
    for s in samples:
        x = s["image"].to(device, non_blocking=True)
        inst = Instances(tuple(x.shape[-2:]))
        inst.gt_boxes = Boxes(s["boxes"].to(device, non_blocking=True))
        inst.gt_classes = s["classes"].to(device, non_blocking=True)
        inputs.append({"image": x, "height": s["height"], "width": s["width"], "instances": inst})
    return inputs


class Detectron2Detector:
    """``detectron2:faster_rcnn_R_50_FPN`` (alias ``faster-rcnn``) or ``detectron2:faster_rcnn_R_101_FPN``.
    ``loader_workers``: the training input's DataLoader workers (see
    :func:`dcbench.detectors.rcnn_loader.resolve_workers`)."""

    loader_workers: LoaderWorkers = "auto"

    def __init__(self, arg: str | None = None):
        arch = arg or "faster_rcnn_R_50_FPN"
        if arch not in CONFIGS:
            raise ConfigError(f"unknown detectron2 model {arch!r} (known: {', '.join(CONFIGS)})")
        self.arch = arch
        self.name = f"detectron2:{arch}"

    def _cfg(self, num_classes: int, imgsz: int, device: str):
        _import()
        from detectron2 import model_zoo
        from detectron2.config import get_cfg

        cfg = get_cfg()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cfg.merge_from_file(model_zoo.get_config_file(CONFIGS[self.arch]))
        cfg.MODEL.WEIGHTS = ""
        cfg.MODEL.RESNETS.NORM = "BN"
        cfg.MODEL.BACKBONE.FREEZE_AT = 0
        cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.001
        cfg.TEST.DETECTIONS_PER_IMAGE = 100
        cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[s] for s in scaled_anchor_sizes(imgsz)]
        cfg.MODEL.DEVICE = "cuda" if device.startswith("cuda") else "cpu"
        return cfg

    def _model(self, num_classes: int, imgsz: int, device: str):
        import torch
        from detectron2.modeling import build_model

        model = build_model(self._cfg(num_classes, imgsz, device))
        return model.to(torch.device(device))

    def _load(self, checkpoint: Checkpoint, device: str):
        import torch

        state = torch.load(checkpoint.path, map_location="cpu", weights_only=False)
        model = self._model(state["num_classes"], state["imgsz"], device)
        model.load_state_dict(state["model"])
        return model.eval(), state

    def _inputs(self, images, imgsz: int, device: str):
        """Detectron2's inputs for prediction and features (no instances, no flip)."""
        inputs = []
        for im in images:
            x, _ = _resized(im.file, imgsz)
            inputs.append({"image": x.to(device), "height": im.height, "width": im.width})
        return inputs

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
        from detectron2.utils.events import EventStorage

        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)  # the initial weights
        model = self._model(dataset.num_classes, protocol.imgsz, device)
        with EventStorage():
            record = train_from_scratch(
                model,
                dataset,
                functools.partial(train_sample, imgsz=protocol.imgsz),  # a partial pickles; a lambda does not
                lambda samples: model(_train_inputs(samples, device)),
                protocol=protocol,
                seed=seed,
                name=self.arch,
                reporter=reporter or SILENT,
                device=device,
                workers=self.loader_workers,
            )
        target = save_weights(model, workdir, num_classes=dataset.num_classes, imgsz=protocol.imgsz, arch=self.arch)
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
        model, state = self._load(checkpoint, device)

        def detect(records):
            found = [r["instances"].to("cpu") for r in model(self._inputs(records, state["imgsz"], device))]
            return [Detections(i.pred_boxes.tensor.numpy(), i.scores.numpy(), i.pred_classes.numpy()) for i in found]

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
        """Global-average-pooled coarsest FPN level."""
        model, state = self._load(checkpoint, device)

        def coarsest(records):
            levels = model.backbone(model.preprocess_image(self._inputs(records, state["imgsz"], device)).tensor)
            return levels[sorted(levels)[-1]]  # p2 ... p6

        return pooled_coarsest_level(dataset, coarsest, reporter=reporter or SILENT)

    def inversion_target(self, checkpoint: Checkpoint, *, protocol: TrainProtocol, device: str) -> InversionTarget:
        import torch
        from detectron2.structures import Boxes, Instances
        from detectron2.utils.events import EventStorage

        model, state = self._load(checkpoint, device)
        frozen(model)

        def loss(images: torch.Tensor, targets) -> torch.Tensor:
            inputs = []
            for x, (boxes, labels) in zip(images, targets):
                inst = Instances(tuple(x.shape[-2:]))
                inst.gt_boxes = Boxes(boxes.to(images).reshape(-1, 4))
                inst.gt_classes = labels.to(device).long()
                inputs.append({"image": x.flip(0) * 255.0, "instances": inst})  # RGB [0, 1] -> BGR [0, 255]
            with loss_mode(model), EventStorage():
                losses = model(inputs)
            return sum(losses.values())

        return InversionTarget(model, loss, protocol.imgsz, device, state["num_classes"])
