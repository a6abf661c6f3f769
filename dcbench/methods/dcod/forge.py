"""Forge: optimise the pixels of synthetic images against the frozen teacher.

Images are forged in batches (BatchNorm statistics are batch statistics, so the batch size is part of the
recorded config). Each batch saves a resumable state every ``checkpoint_every`` iterations and a final state when
done, under ``workdir/forge``; a forge that is killed resumes from the last saved state of the batch in flight.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dcbench.methods.dcod.augment import shift_and_flip
from dcbench.methods.dcod.config import DCODConfig
from dcbench.methods.dcod.fbd import background_weight, box_mask, damp_update, random_erase
from dcbench.methods.dcod.ipe import expand, k_at, parse_schedule, place_boxes, plan_views, stage_starts
from dcbench.methods.dcod.priors import BatchNormStatistics, l2_prior, total_variation
from dcbench.progress import SILENT


@dataclass
class Source:
    """A real image as it enters a canvas: its pixels letterboxed to S x S, and its boxes on that canvas."""

    pixels: torch.Tensor  # (3, S, S) float in [0, 1]
    boxes: torch.Tensor  # (n, 4) xyxy canvas pixels
    labels: torch.Tensor  # (n,)


@dataclass
class Slot:
    """One synthetic image: an ordered list of sources (index 0 initialises it; the rest enter with IPE)."""

    sources: list  # callables or Source: loaded lazily, a 3x3 grid needs 9 images
    loaded: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)  # {(j, k): ipe.View}, set by plan()

    def source(self, j: int) -> Source:
        if j not in self.loaded:
            s = self.sources[j]
            self.loaded[j] = s() if callable(s) else s
        return self.loaded[j]

    def plan(self, ks: list[int], size: int, fit: str) -> None:
        self.views = plan_views(lambda j: self.source(j).boxes, ks, size, fit)

    def views_at(self, k: int) -> list:
        return [self.views[(j, k)] for j in range(k * k)]


def targets_at(slot: Slot, k: int, device, min_visible: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    boxes, labels = [], []
    for j, view in enumerate(slot.views_at(k)):
        src = slot.source(j)
        placed, keep = place_boxes(src.boxes, view, min_visible)
        boxes.append(placed)
        labels.append(src.labels[keep])
    return torch.cat(boxes).to(device), torch.cat(labels).to(device)


def lr_at(cfg: DCODConfig, it: int) -> float:
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * it / cfg.iterations))
    return cfg.lr


def _make_optimizer(cfg: DCODConfig, x: torch.Tensor):
    if cfg.optimizer == "adam":
        return torch.optim.Adam([x], lr=cfg.lr, betas=(0.9, 0.999))
    return torch.optim.SGD([x], lr=cfg.lr, momentum=0.9)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _resume_digest(cfg: DCODConfig, seed: int) -> str:
    """What a saved forge state must match to be resumed: every setting that changes the pixels, and nothing that
    only reports (snapshots) or paces the saving (checkpoint_every)."""
    from dcbench.methods.dcod.method import DCOD

    values = {k: v for k, v in cfg.as_dict().items() if k not in DCOD.bookkeeping_options}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12] + f"-s{seed}"


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@dataclass
class ForgeResult:
    images: list  # (S, S, 3) uint8 arrays, one per slot
    targets: list  # (boxes (n, 4) numpy, labels (n,) numpy), canvas pixels
    history: list  # per batch, per logged iteration: loss terms
    seconds_per_iteration: float


def forge(slots: list[Slot], target, cfg: DCODConfig, *, seed: int, workdir: Path, reporter=None) -> ForgeResult:
    """Forge every slot; ``cfg`` must be resolved (iterations, forge_batch, jitter set)."""
    import time

    reporter = reporter or SILENT
    device = target.device
    size = target.image_size
    state_dir = Path(workdir) / "forge"
    state_dir.mkdir(parents=True, exist_ok=True)
    config_digest = _resume_digest(cfg, seed)
    starts = stage_starts(parse_schedule(cfg.ipe_schedule), cfg.iterations) if cfg.ipe else [(1, 0)]
    bn = BatchNormStatistics(target.module, cfg.bn_reduction, cfg.first_bn_coef)
    images: list[np.ndarray] = []
    targets: list = []
    history: list = []
    iter_times: list[float] = []
    n_batches = math.ceil(len(slots) / cfg.forge_batch)
    try:
        for b in range(n_batches):
            batch_slots = slots[b * cfg.forge_batch : (b + 1) * cfg.forge_batch]
            done_file = state_dir / f"batch_{b:04d}.done.pt"
            state_file = state_dir / f"batch_{b:04d}.state.pt"
            if done_file.is_file():
                done = torch.load(done_file, weights_only=False)
                if done.get("config") == config_digest:
                    images += done["images"]
                    targets += done["targets"]
                    history.append(done["history"])
                    continue
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + b)
            k = k_at(starts, 0)
            for s in batch_slots:
                s.plan([kk for kk, _ in starts], size, cfg.ipe_fit)
            blank = torch.zeros(3, size, size, device=device)
            x0 = torch.stack(
                [
                    expand(blank, [], s.views_at(k), [s.source(j).pixels.to(device) for j in range(k * k)])
                    for s in batch_slots
                ]
            )
            x = x0.clone().requires_grad_(True)
            opt = _make_optimizer(cfg, x)
            start_it, log = 0, []
            if state_file.is_file():
                st = torch.load(state_file, weights_only=False)
                if st.get("config") == config_digest:
                    with torch.no_grad():
                        x.copy_(st["x"].to(device))
                    k = st["k"]
                    opt = _make_optimizer(cfg, x)
                    opt.load_state_dict(st["optimizer"])
                    gen.set_state(st["generator"])
                    start_it, log = st["iteration"], st["history"]
                    reporter.note(f"forge: resumed batch {b + 1}/{n_batches} at iteration {start_it}")

            def layout(k: int, slots=batch_slots):
                """Targets and FBD weight for a k x k layout: they change only when IPE re-lays the canvas."""
                targets = [targets_at(s, k, device, cfg.ipe_min_visible) for s in slots]
                weight = background_weight(box_mask(targets, size, device), cfg.fbd_alpha) if cfg.fbd else None
                return targets, weight

            batch_targets, weight = layout(k)
            with reporter.stage(
                f"forge batch {b + 1}/{n_batches} ({len(batch_slots)} images)", total=cfg.iterations, unit="iteration"
            ) as step:
                for it in range(start_it, cfg.iterations):
                    t_it = time.perf_counter()
                    new_k = k_at(starts, it)
                    if new_k != k:
                        with torch.no_grad():
                            relaid = torch.stack(
                                [
                                    expand(
                                        x[i].detach(),
                                        s.views_at(k),
                                        s.views_at(new_k),
                                        [s.source(j).pixels.to(device) for j in range(k * k, new_k * new_k)],
                                    )
                                    for i, s in enumerate(batch_slots)
                                ]
                            )
                        x = relaid.clone().requires_grad_(True)
                        opt = _make_optimizer(cfg, x)  # per-pixel optimiser state no longer lines up with the pixels
                        k = new_k
                        batch_targets, weight = layout(k)
                    if b == 0 and it in cfg.snapshots:
                        _snapshot(x, workdir, it)
                    x_in = x * weight if (cfg.fbd and cfg.fbd_mode == "input") else x
                    x_aug, t_aug = shift_and_flip(x_in, batch_targets, cfg.jitter, cfg.flip, gen)
                    if cfg.fbd and cfg.erase and cfg.erase_p > 0:
                        x_aug = random_erase(x_aug, t_aug, cfg.erase_p, gen)
                    bn.reset()
                    l_det = target.loss(x_aug, t_aug)
                    r_bn = bn.value()
                    r_tv = total_variation(x, cfg.prior_reduction)
                    r_l2 = l2_prior(x, cfg.prior_reduction)
                    loss = cfg.w_det * l_det + cfg.w_bn * r_bn + cfg.w_tv * r_tv + cfg.w_l2 * r_l2
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    for group in opt.param_groups:
                        group["lr"] = lr_at(cfg, it)
                    before = x.detach().clone() if (cfg.fbd and cfg.fbd_mode == "update") else None
                    opt.step()
                    with torch.no_grad():
                        if before is not None:
                            damp_update(x.data, before, weight)
                        if cfg.clamp:
                            x.data.clamp_(0, 1)
                    terms = {
                        "it": it,
                        "total": loss.item(),
                        "det": l_det.item(),
                        "bn": r_bn.item(),
                        "tv": r_tv.item(),
                        "l2": r_l2.item(),
                        "k": k,
                    }
                    if it % 10 == 0 or it == cfg.iterations - 1:
                        log.append(terms)
                    iter_times.append(time.perf_counter() - t_it)
                    step(
                        it + 1,
                        f"k={k} loss {terms['total']:.3f} det {terms['det']:.3f} bn {terms['bn']:.3f} tv {terms['tv']:.4f}",
                    )
                    if (it + 1) % cfg.checkpoint_every == 0 and it + 1 < cfg.iterations:
                        _atomic_save(
                            {
                                "config": config_digest,
                                "x": x.detach().cpu(),
                                "k": k,
                                "iteration": it + 1,
                                "optimizer": opt.state_dict(),
                                "generator": gen.get_state(),
                                "history": log,
                            },
                            state_file,
                        )
            if b == 0 and cfg.iterations in cfg.snapshots:
                _snapshot(x, workdir, cfg.iterations)
            batch_images = [to_uint8(x[i]) for i in range(len(batch_slots))]
            batch_t = [(bx.cpu().numpy(), lb.cpu().numpy()) for bx, lb in batch_targets]
            _atomic_save(
                {"config": config_digest, "images": batch_images, "targets": batch_t, "history": log}, done_file
            )
            state_file.unlink(missing_ok=True)
            images += batch_images
            targets += batch_t
            history.append(log)
    finally:
        bn.close()
    per_it = float(np.mean(iter_times)) if iter_times else float("nan")
    return ForgeResult(images, targets, history, per_it)


def _snapshot(x: torch.Tensor, workdir: Path, it: int) -> None:
    from PIL import Image

    out = Path(workdir) / "snapshots"
    out.mkdir(parents=True, exist_ok=True)
    for i in range(x.shape[0]):
        Image.fromarray(to_uint8(x[i])).save(out / f"it{it:05d}_{i:03d}.png")
