"""Training the classic YOLOv3 from scratch, as the archive-era ``train.py`` does (``yolov3-classic.md`` section 4).

Followed: SGD with Nesterov momentum 0.937, lr0 0.01, weight decay 5e-4 on conv weights only (not on biases or
BatchNorm); the loss scaled by batch / nominal batch and gradients accumulated up to the nominal batch (the protocol's
``nominal_batch``, 64 by default, as the archive's fixed 64); the per-epoch cosine factor
lf(e) = 0.05 + 0.95 (1 + cos(pi e / E)) / 2; a burn-in over max(3 epochs, 500 iterations) that ramps lr from 0
(biases from 0.1) to lr0 lf(e), momentum 0.9 to 0.937, weight decay 0 to 5e-4, accumulation 1 to nominal / batch and
the objectness target's GIoU share gr 0 to 1; an EMA of the weights, decay 0.9999 (1 - exp(-updates / 2000)), which is
what is saved; HSV jitter (gains 0.0138 / 0.678 / 0.36) and horizontal flips (p 0.5) on letterboxed images padded with
114. Mixed precision (float16 with loss scaling) on a GPU stands in for Apex AMP.

Every training image is a mosaic of four (``mosaic.py``), as the archive's training set serves them. Left out:
multi-scale training (320-640 px, a new size each step): every step is at the protocol's ``imgsz``, the size the
detector is tested at, as dcbench's other backends train; the spec's geometric augmentation is off (zero) anyway.
The burn-in is not shortened for short runs: a run of fewer than 500 iterations ends still warming up, as the archive
code's would.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from dataclasses import dataclass

import torch

from dcbench.detectors.rcnn_loader import resolve_workers, training_batches
from dcbench.detectors.yolo_classic.loss import TRAIN, compute_loss
from dcbench.detectors.yolo_classic.mosaic import MosaicBatches, mosaic_sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hyp:
    lr0: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 5e-4
    hsv: tuple[float, float, float] = (0.0138, 0.678, 0.36)
    burn_epochs: int = 3
    burn_iterations: int = 500
    warmup_momentum: float = 0.9
    warmup_bias_lr: float = 0.1
    ema_decay: float = 0.9999
    ema_ramp: float = 2000.0


HYP = Hyp()


def lf(epoch: int, epochs: int) -> float:
    """The cosine lr factor, 1 at epoch 0 falling to 0.05."""
    return 0.05 + 0.95 * (1 + math.cos(math.pi * epoch / epochs)) / 2


def collate(samples: list, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, S, S) in [0, 1] and targets (n, 6) with the image index first, on ``device``."""
    images = torch.stack([im for im, _ in samples]).to(device, non_blocking=True).float().div_(255)
    rows = [torch.cat((torch.full((len(t), 1), float(i)), t), 1) for i, (_, t) in enumerate(samples)]
    return images, torch.cat(rows).to(device)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    v, top = x.max(1)
    delta = v - x.min(1).values
    d = delta.clamp_min(1e-8)
    h = torch.where(top == 0, (g - b) / d, torch.where(top == 1, 2 + (b - r) / d, 4 + (r - g) / d))
    h = torch.where(delta > 0, (h / 6) % 1.0, torch.zeros_like(h))
    return torch.stack((h, delta / v.clamp_min(1e-8), v), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    sectors = torch.stack(
        [torch.stack(c) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    )  # (6, 3, B, H, W): the RGB of each sixth of the hue circle
    index = (i.long() % 6)[None, None].expand(1, 3, *i.shape)
    return sectors.gather(0, index)[0].transpose(0, 1)


def hsv_jitter(images: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Hue turned, saturation and value scaled by per-image ``gains`` (B, 3), as the archive's augment_hsv does
    on OpenCV's HSV (hue wraps around, the others saturate)."""
    hsv = rgb_to_hsv(images)
    g = gains[:, :, None, None]
    h = (hsv[:, 0] * g[:, 0]) % 1.0
    sv = (hsv[:, 1:] * g[:, 1:]).clamp(0, 1)
    return hsv_to_rgb(torch.cat((h[:, None], sv), 1))


def hsv_gains(n: int, gen: torch.Generator, hyp: Hyp = HYP) -> torch.Tensor:
    return (torch.rand(n, 3, generator=gen) * 2 - 1) * torch.tensor(hyp.hsv) + 1


def optimizer(model: torch.nn.Module, hyp: Hyp = HYP) -> torch.optim.SGD:
    """SGD with Nesterov momentum in three groups, so that weight decay reaches conv weights only and the biases
    can warm up from their own lr: BatchNorm weights, conv weights, biases."""
    groups: dict[str, list] = {"bn": [], "conv": [], "bias": []}
    for name, p in model.named_parameters():
        groups["bias" if name.endswith(".bias") else "conv" if p.ndim > 1 else "bn"].append(p)
    return torch.optim.SGD(
        [{"params": ps, "kind": kind, "weight_decay": 0.0} for kind, ps in groups.items()],
        lr=hyp.lr0,
        momentum=hyp.momentum,
        nesterov=True,
    )


def schedule(opt, it: int, n_burn: int, factor: float, accumulate: int, hyp: Hyp = HYP) -> tuple[int, float]:
    """Set every group's lr, momentum and weight decay for iteration ``it`` (``factor``: lf of its epoch);
    returns the accumulation count and gr. During the burn-in each ramps linearly from its start value."""
    frac = min(it / n_burn, 1.0)

    def ramp(start: float, end: float) -> float:
        return start + frac * (end - start)

    for g in opt.param_groups:
        g["lr"] = ramp(hyp.warmup_bias_lr if g["kind"] == "bias" else 0.0, hyp.lr0 * factor)
        g["momentum"] = ramp(hyp.warmup_momentum, hyp.momentum)
        g["weight_decay"] = ramp(0.0, hyp.weight_decay if g["kind"] == "conv" else 0.0)
    return max(1, round(ramp(1, accumulate))), frac


class ModelEMA:
    """An exponential moving average of the weights and BatchNorm statistics; its decay grows with the updates,
    so that early on it follows the model closely."""

    def __init__(self, model: torch.nn.Module, hyp: Hyp = HYP):
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.updates, self.hyp = 0, hyp

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.hyp.ema_decay * (1 - math.exp(-self.updates / self.hyp.ema_ramp))
        current = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(current[k].detach(), alpha=1 - d)


def train(model, dataset, *, protocol, seed: int, device: str, reporter, name: str):
    """Train ``model`` (freshly built, on ``device``) on every image of ``dataset``; returns the EMA model and what
    the checkpoint records."""
    batch = min(protocol.batch, len(dataset))
    epochs = protocol.epochs_for(len(dataset))
    sampler = MosaicBatches(len(dataset), batch, epochs, seed)
    steps = sampler.steps_per_epoch
    n_burn = max(HYP.burn_epochs * steps, HYP.burn_iterations)
    nominal = protocol.nominal_batch
    opt, ema = optimizer(model), ModelEMA(model)
    amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    prepare = functools.partial(mosaic_sample, records=dataset.images, imgsz=protocol.imgsz)
    workers = resolve_workers("auto", device)
    feed = training_batches(dataset.images, prepare, sampler, workers=workers, seed=seed, device=device)
    gen = torch.Generator().manual_seed(seed)  # the HSV gains: the sampler draws the order and the flips
    heads, running = model.heads(), 0.0
    log.info("train %s: %d iterations, burn-in %d, batch %d of nominal %d", name, len(sampler), n_burn, batch, nominal)
    model.train()
    with reporter.stage(f"train {name} on {len(dataset)} images", total=epochs, unit="epoch") as step:
        for it, samples in enumerate(feed):
            accumulate, gr = schedule(opt, it, n_burn, lf(it // steps, epochs), max(1, round(nominal / batch)))
            images, targets = collate(samples, device)
            images = hsv_jitter(images, hsv_gains(len(samples), gen).to(device))
            with torch.autocast(torch.device(device).type, enabled=amp):
                raws = model(images)
            loss, _ = compute_loss(raws, targets, heads, model.nc, TRAIN, gr)
            if not torch.isfinite(loss):
                raise RuntimeError(f"{name}: training loss is {loss.item()} at iteration {it + 1}")
            scaler.scale(loss * batch / nominal).backward()
            if it % accumulate == 0:
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                ema.update(model)
            running += loss.item()
            if (it + 1) % steps == 0:
                step((it + 1) // steps, f"loss {running / steps:.3f}")
                running = 0.0
    record = {"epochs": epochs, "iterations": len(sampler), "updates": ema.updates, "lr": HYP.lr0}
    return ema.ema, {**record, "burn_in": n_burn, "nominal_batch": nominal}
