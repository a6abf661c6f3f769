"""Forge: optimise the pixels of synthetic images against the frozen teacher.

Images are forged in batches (BatchNorm statistics are batch statistics, so the batch size is part of the
recorded config). Each batch saves a resumable state every ``checkpoint_every`` iterations and a final state when
done, under ``workdir/forge``; a forge that is killed resumes from the last saved state of the batch in flight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from dcbench.io import atomic_write, stable_hash
from dcbench.methods.dcod.augment import shift_and_flip
from dcbench.methods.dcod.config import BOOKKEEPING_OPTIONS, DCODConfig
from dcbench.methods.dcod.fbd import background_weight, box_mask, damp_update, random_erase
from dcbench.methods.dcod.ipe import expand, k_at, parse_schedule, place_boxes, plan_views, stage_starts
from dcbench.methods.dcod.priors import BatchNormStatistics, l2_prior, total_variation
from dcbench.progress import SILENT

if TYPE_CHECKING:
    from dcbench.progress import Reporter


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
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * it / cfg.n_iterations))
    return cfg.lr


def _make_optimizer(cfg: DCODConfig, x: torch.Tensor):
    if cfg.optimizer == "adam":
        return torch.optim.Adam([x], lr=cfg.lr, betas=(0.9, 0.999))
    return torch.optim.SGD([x], lr=cfg.lr, momentum=0.9)


def _atomic_save(obj, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def _resume_digest(cfg: DCODConfig, seed: int) -> str:
    """What a saved forge state must match to be resumed: every setting that changes the pixels, and nothing that
    only reports (snapshots) or paces the saving (checkpoint_every)."""
    values = {k: v for k, v in cfg.as_dict().items() if k not in BOOKKEEPING_OPTIONS}
    return stable_hash(values, 12) + f"-s{seed}"


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@dataclass
class ForgeResult:
    images: list  # (S, S, 3) uint8 arrays, one per slot
    targets: list  # (boxes (n, 4) numpy, labels (n,) numpy), canvas pixels
    history: list  # per batch, per logged iteration: loss terms
    seconds_per_iteration: float  # the mean, PatchExpand's re-layouts included (what a forge costs)
    iteration_seconds: list[float] = field(default_factory=list)  # each iteration's, in the order they ran


class BatchForge:
    """The state of one batch's forge: its images, optimiser, random stream, PatchExpand stage and log, with the
    three things that happen to it -- resume from a saved state, one optimisation step, re-layout when k grows."""

    def __init__(self, slots: list[Slot], target, cfg: DCODConfig, starts: list, gen: torch.Generator, bn):
        self.slots, self.target, self.cfg, self.starts, self.gen, self.bn = slots, target, cfg, starts, gen, bn
        self.device, self.size = target.device, target.image_size
        self.autocast = cfg.autocast_dtype(str(self.device))  # resolved once: it asks CUDA what it supports
        self.k = k_at(starts, 0)
        for s in slots:
            s.plan([kk for kk, _ in starts], self.size, cfg.ipe_fit)
        blank = torch.zeros(3, self.size, self.size, device=self.device)
        self._start(torch.stack([expand(blank, [], s.views_at(self.k), self._pixels(s, 0, self.k)) for s in slots]))
        self.iteration = 0
        self.log: list[dict] = []  # the loss terms of every 10th iteration

    def _pixels(self, slot: Slot, first_k: int, k: int) -> list:
        return [slot.source(j).pixels.to(self.device) for j in range(first_k * first_k, k * k)]

    def _start(self, x: torch.Tensor) -> None:
        """New pixels to optimise: a fresh optimiser (per-pixel state would not line up with re-laid pixels) and the
        layout's targets and FBD weight, which change only when the canvas is re-laid."""
        self.x = x.clone().requires_grad_(True)
        self.opt = _make_optimizer(self.cfg, self.x)
        self.targets = [targets_at(s, self.k, self.device, self.cfg.ipe_min_visible) for s in self.slots]
        mask = box_mask(self.targets, self.size, self.device)
        self.weight = background_weight(mask, self.cfg.fbd_alpha) if self.cfg.fbd else None

    def resume(self, state: dict) -> None:
        self.k = state["k"]
        self._start(state["x"].to(self.device))
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["generator"])
        self.iteration, self.log = state["iteration"], state["history"]

    def state(self, digest: str) -> dict:
        return {
            "config": digest,
            "x": self.x.detach().cpu(),
            "k": self.k,
            "iteration": self.iteration,
            "optimizer": self.opt.state_dict(),
            "generator": self.gen.get_state(),
            "history": self.log,
        }

    def relayout(self, new_k: int) -> None:
        """k grows: forged patches carry over into the new grid, new sources enter as their real images."""
        with torch.no_grad():
            x = torch.stack(
                [
                    expand(self.x[i].detach(), s.views_at(self.k), s.views_at(new_k), self._pixels(s, self.k, new_k))
                    for i, s in enumerate(self.slots)
                ]
            )
        self.k = new_k
        self._start(x)

    def enter_iteration(self) -> None:
        """Re-lay the canvas when this iteration starts a new PatchExpand stage."""
        new_k = k_at(self.starts, self.iteration)
        if new_k != self.k:
            self.relayout(new_k)

    def step(self) -> dict:
        """One optimisation step at ``self.iteration`` (after :meth:`enter_iteration`): the loss terms it saw."""
        cfg, it = self.cfg, self.iteration
        x = self.x
        x_in = x * self.weight if (cfg.fbd_mode == "input" and self.weight is not None) else x
        x_aug, t_aug = shift_and_flip(x_in, self.targets, cfg.n_jitter, cfg.flip, self.gen)
        if cfg.fbd and cfg.erase and cfg.erase_p > 0:
            x_aug = random_erase(x_aug, t_aug, cfg.erase_p, self.gen)
        self.bn.reset()
        dtype = self.autocast
        with torch.autocast(torch.device(self.device).type, dtype=dtype or torch.float32, enabled=dtype is not None):
            l_det = self.target.loss(x_aug, t_aug).float()
        r_bn, r_tv, r_l2 = self.bn.value(), total_variation(x, cfg.prior_reduction), l2_prior(x, cfg.prior_reduction)
        loss = cfg.w_det * l_det + cfg.w_bn * r_bn + cfg.w_tv * r_tv + cfg.w_l2 * r_l2
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.opt.param_groups:
            group["lr"] = lr_at(cfg, it)
        before = x.detach().clone() if (cfg.fbd and cfg.fbd_mode == "update") else None
        self.opt.step()
        with torch.no_grad():
            if before is not None and self.weight is not None:
                damp_update(x.data, before, self.weight)
            if cfg.clamp:
                x.data.clamp_(0, 1)
        terms = {
            "it": it,
            "total": loss.item(),
            "det": l_det.item(),
            "bn": r_bn.item(),
            "tv": r_tv.item(),
            "l2": r_l2.item(),
            "k": self.k,
        }
        if it % 10 == 0 or it == cfg.n_iterations - 1:
            self.log.append(terms)
        self.iteration += 1
        return terms


def forge(
    slots: list[Slot], target, cfg: DCODConfig, *, seed: int, workdir: Path, reporter: Reporter | None = None
) -> ForgeResult:
    """Forge every slot, batch by batch; ``cfg`` must be resolved (iterations, forge_batch, jitter set). A finished
    batch is stored and reused; a batch in flight saves its state every ``checkpoint_every`` iterations."""
    reporter = reporter or SILENT
    state_dir = Path(workdir) / "forge"
    state_dir.mkdir(parents=True, exist_ok=True)
    digest = _resume_digest(cfg, seed)
    starts = stage_starts(parse_schedule(cfg.ipe_schedule), cfg.n_iterations) if cfg.ipe else [(1, 0)]
    bn = BatchNormStatistics(target.module, cfg.bn_reduction, cfg.first_bn_coef)
    result = ForgeResult([], [], [], float("nan"))
    iter_times: list[float] = []
    n_batches = math.ceil(len(slots) / cfg.n_forge_batch)
    try:
        for b in range(n_batches):
            batch_slots = slots[b * cfg.n_forge_batch : (b + 1) * cfg.n_forge_batch]
            done = _load_matching(state_dir / f"batch_{b:04d}.done.pt", digest)
            if done is None:
                gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + b)
                batch = BatchForge(batch_slots, target, cfg, starts, gen, bn)
                done = _forge_batch(batch, b, n_batches, state_dir, digest, workdir, reporter, iter_times)
            result.images += done["images"]
            result.targets += done["targets"]
            result.history.append(done["history"])
    finally:
        bn.close()
    result.seconds_per_iteration = float(np.mean(iter_times)) if iter_times else float("nan")
    result.iteration_seconds = iter_times
    return result


def _load_matching(path: Path, digest: str) -> dict | None:
    """A saved forge state or finished batch, if it was made with these settings."""
    if not path.is_file():
        return None
    saved = torch.load(path, weights_only=False)
    return saved if saved.get("config") == digest else None


def _forge_batch(
    batch: BatchForge,
    b: int,
    n_batches: int,
    state_dir: Path,
    digest: str,
    workdir: Path,
    reporter,
    iter_times: list[float],
) -> dict:
    import time

    cfg = batch.cfg
    state_file = state_dir / f"batch_{b:04d}.state.pt"
    saved = _load_matching(state_file, digest)
    if saved is not None:
        batch.resume(saved)
        reporter.note(f"forge: resumed batch {b + 1}/{n_batches} at iteration {batch.iteration}")
    name = f"forge batch {b + 1}/{n_batches} ({len(batch.slots)} images)"
    with reporter.stage(name, total=cfg.n_iterations, unit="iteration") as step:
        while batch.iteration < cfg.n_iterations:
            t_it = time.perf_counter()
            batch.enter_iteration()
            if b == 0 and batch.iteration in cfg.snapshots:
                _snapshot(batch.x, workdir, batch.iteration)
            terms = batch.step()
            iter_times.append(time.perf_counter() - t_it)
            step(
                batch.iteration,
                f"k={terms['k']} loss {terms['total']:.3f} det {terms['det']:.3f} "
                f"bn {terms['bn']:.3f} tv {terms['tv']:.4f}",
            )
            if batch.iteration % cfg.checkpoint_every == 0 and batch.iteration < cfg.n_iterations:
                _atomic_save(batch.state(digest), state_file)
    if b == 0 and cfg.n_iterations in cfg.snapshots:
        _snapshot(batch.x, workdir, cfg.n_iterations)
    done = {
        "config": digest,
        "images": [to_uint8(batch.x[i]) for i in range(len(batch.slots))],
        "targets": [(bx.cpu().numpy(), lb.cpu().numpy()) for bx, lb in batch.targets],
        "history": batch.log,
    }
    _atomic_save(done, state_dir / f"batch_{b:04d}.done.pt")
    state_file.unlink(missing_ok=True)
    return done


def _snapshot(x: torch.Tensor, workdir: Path, it: int) -> None:
    from PIL import Image

    out = Path(workdir) / "snapshots"
    out.mkdir(parents=True, exist_ok=True)
    for i in range(x.shape[0]):
        Image.fromarray(to_uint8(x[i])).save(out / f"it{it:05d}_{i:03d}.png")
