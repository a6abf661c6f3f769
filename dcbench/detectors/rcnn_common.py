"""What the two-stage (R-CNN) backends share: the from-scratch training loop and the loss mode for inversion.

Both torchvision's and Detectron2's Faster R-CNN return their losses only in training mode; for model inversion
the BatchNorm layers must still use their running statistics, hence :func:`loss_mode`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dcbench.detectors.rcnn_loader import LoaderWorkers
    from dcbench.protocols import Protocol as TrainProtocol

log = logging.getLogger(__name__)

BASE_LR = 0.02  # per 16 images: torchvision's detection reference and Detectron2's default
WARMUP_ITERS = 100
MAX_GRAD_NORM = 10.0


def save_weights(model, workdir: Path, *, num_classes: int, imgsz: int, arch: str) -> Path:
    """``workdir/detector.pt``: the weights with what rebuilding the model needs (what each backend's ``_load``
    reads back)."""
    import torch

    target = Path(workdir) / "detector.pt"
    torch.save({"model": model.state_dict(), "num_classes": num_classes, "imgsz": imgsz, "arch": arch}, target)
    return target


@contextmanager
def loss_mode(model):
    """Training mode (so the model returns losses) with BatchNorm frozen in eval mode; eval mode afterwards."""
    import torch

    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    try:
        yield model
    finally:
        model.eval()


def _optimizer(model, lr: float, total: int):
    """SGD (momentum 0.9, weight decay 1e-4) with a linear warm-up then cosine decay over ``total`` steps."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    warm = min(WARMUP_ITERS, max(1, total // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda it: (it + 1) / warm if it < warm else 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, total - warm))),
    )
    return params, opt, sched


def train_from_scratch(
    model,
    dataset,
    prepare: Callable,
    step_losses: Callable,
    *,
    protocol: TrainProtocol,
    seed: int,
    name: str,
    reporter,
    device: str,
    workers: LoaderWorkers = "auto",
) -> dict:
    """SGD (momentum 0.9, weight decay 1e-4), lr 0.02 x batch / 16, linear warm-up then cosine decay, gradient
    norm clipped at 10. ``prepare(record, flip)`` decodes one ImageRecord into a CPU sample (run by DataLoader
    workers: picklable, see :mod:`dcbench.detectors.rcnn_loader`); ``step_losses(samples)`` moves a batch of them
    to the device and returns the model's loss dict. ``workers``: see :func:`rcnn_loader.resolve_workers`; the
    batches and flips, hence the weights, are the same for a seed whatever it is.
    Returns what the checkpoint records (epochs, iterations, lr)."""
    import torch

    from dcbench.detectors.rcnn_loader import EpochBatches, resolve_workers, training_batches

    torch.manual_seed(seed)
    model.train()
    batch = min(protocol.batch, len(dataset))
    epochs = protocol.epochs_for(len(dataset))
    sampler = EpochBatches(len(dataset), batch, epochs, seed)
    steps = sampler.steps_per_epoch
    lr = BASE_LR * batch / 16
    params, opt, sched = _optimizer(model, lr, len(sampler))
    n_workers = resolve_workers(workers, device)
    log.info("train %s: %d steps, input %s", name, len(sampler), _describe(n_workers))
    feed = training_batches(dataset.images, prepare, sampler, workers=n_workers, seed=seed, device=device)
    iterations, running = 0, 0.0
    with reporter.stage(f"train {name} on {len(dataset)} images", total=epochs, unit="epoch") as step:
        for samples in feed:
            loss = sum(step_losses(samples).values())
            if not torch.isfinite(loss):
                raise RuntimeError(f"{name}: training loss is {loss.item()} at epoch {iterations // steps + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            opt.step()
            sched.step()
            iterations += 1
            running += loss.item()
            if iterations % steps == 0:  # an epoch's last batch
                step(iterations // steps, f"loss {running / steps:.3f}")
                running = 0.0
    return {"epochs": epochs, "iterations": iterations, "lr": lr}


def _describe(workers: int | None) -> str:
    if workers is None:
        return "decoded in the training step"
    return f"DataLoader with {workers} worker(s)" if workers else "DataLoader in the main process"


FEATURE_BATCH = 8
PREDICT_BATCH = 8


def pooled_coarsest_level(dataset, coarsest_level: Callable, *, reporter) -> np.ndarray:
    """(N, D) features: the coarsest FPN level, global-average-pooled. ``coarsest_level(records)`` runs the
    backbone on a batch of ImageRecords, prepared the way the backend's model expects them."""
    import torch

    feats = []
    with (
        torch.no_grad(),
        reporter.stage(f"features of {len(dataset)} images", total=len(dataset), unit="image") as step,
    ):
        for start in range(0, len(dataset), FEATURE_BATCH):
            coarsest = coarsest_level(dataset.images[start : start + FEATURE_BATCH])
            feats.append(torch.nn.functional.adaptive_avg_pool2d(coarsest, 1).flatten(1).cpu().numpy())
            step(min(start + FEATURE_BATCH, len(dataset)))
    return np.concatenate(feats).astype(np.float32)


def predict_in_chunks(dataset, detect: Callable, *, reporter) -> list:
    """Detections for every image of ``dataset``, 8 at a time. ``detect(records)`` runs the model on a batch of
    ImageRecords and returns one Detections per record, in original-image pixels."""
    import torch

    out: list = []
    with (
        torch.no_grad(),
        reporter.stage(f"predict {len(dataset)} images", total=len(dataset), unit="image") as step,
    ):
        for start in range(0, len(dataset), PREDICT_BATCH):
            out.extend(detect(dataset.images[start : start + PREDICT_BATCH]))
            step(len(out))
    return out


def frozen(model):
    """``model`` with no parameter requiring gradients (the inversion target optimises pixels only)."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def scaled_anchor_sizes(imgsz: int) -> tuple[int, ...]:
    """torchvision's and Detectron2's default anchors (32-512 px) assume 800 px inputs: scale them to ``imgsz``."""
    return tuple(max(4, round(s * imgsz / 800)) for s in (32, 64, 128, 256, 512))
