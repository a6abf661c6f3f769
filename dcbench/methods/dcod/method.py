"""The DCOD method as dcbench calls it: pick initial images, lay out sources, forge, write the condensed set."""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from dcbench.api import CondenseContext
from dcbench.condensed import CondensedSet, write_condensed
from dcbench.data.model import DetectionDataset, ImageRecord
from dcbench.errors import ConfigError
from dcbench.io import letterbox
from dcbench.methods.dcod.config import BOOKKEEPING_OPTIONS, DCODConfig
from dcbench.methods.dcod.forge import Slot, Source, forge
from dcbench.methods.dcod.ipe import parse_schedule
from dcbench.methods.selection import rng_for


def load_source(dataset: DetectionDataset, index: int, size: int, *, noise_seed: int | None = None) -> Source:
    """A real image letterboxed to the canvas with its (non-ignored) boxes; with ``noise_seed`` the pixels are
    replaced by Gaussian noise (the paper's Noise initialisation keeps the real boxes)."""
    im = dataset.images[index]
    canvas, placement = letterbox(im.file, size)
    keep = ~im.ignore
    boxes = torch.from_numpy(placement.boxes_to_canvas(im.boxes[keep]))
    labels = torch.from_numpy(im.labels[keep].copy())
    if noise_seed is None:
        pixels = torch.from_numpy(canvas).permute(2, 0, 1).float().div(255)
    else:
        g = torch.Generator().manual_seed(noise_seed)
        pixels = (0.5 + 0.2 * torch.randn((3, size, size), generator=g)).clamp(0, 1)
    return Source(pixels, boxes, labels)


class DCOD:
    """Fetch & Forge. Options are the fields of :class:`DCODConfig` (``-O fbd=false -O ipe=false`` is plain
    inversion)."""

    requires_teacher = True
    name = "dcod"
    bookkeeping_options = BOOKKEEPING_OPTIONS
    protocol_fields = ("forge_iterations", "forge_batch")  # the protocol's forge settings are its defaults

    def __init__(self, **options):
        self.config = DCODConfig.from_options(**options)

    def describe(self) -> dict:
        return self.config.as_dict()

    def estimated_steps(self, budget: int, protocol) -> tuple[int, int]:
        """Teacher steps the forge takes, and images per step (for ``dcbench matrix --dry-run``'s estimate)."""
        cfg = self.config.resolved(protocol)
        return math.ceil(budget / cfg.n_forge_batch) * cfg.n_iterations, min(budget, cfg.n_forge_batch)

    def initial_indices(
        self, train_set: DetectionDataset, budget: int, context: CondenseContext
    ) -> tuple[list[int], dict]:
        """The images DCOD starts from: exactly what the baseline named by ``init`` selects at the same seed
        (``noise`` takes Random's images for their boxes), so a DCOD row differs from that baseline only by the
        forge and the two compare seed by seed."""
        from dcbench.methods.random import RandomSelection

        cfg = self.config
        if cfg.init in ("random", "noise"):
            return RandomSelection().select(train_set, budget, context.seed), {"paired_with": "random"}
        from dcbench.methods.feature_selection import HerdingSelection, KCenterSelection

        selector = KCenterSelection() if cfg.init == "kcenter" else HerdingSelection()
        feats, record = selector.features(train_set, context)
        # sorted, as the baseline's condensed set lists them: slot order decides forge batches and IPE sources
        return sorted(selector.pick(feats, budget, context.seed)), {"features": record, "paired_with": selector.name}

    @staticmethod
    def _slots(train_set: DetectionDataset, init: list[int], size: int, cfg: DCODConfig, seed: int) -> list[Slot]:
        """One slot per condensed image: its initial image first, then the extra sources PatchExpand's grid fills
        its later cells with (drawn from the seed, so a rerun lays out the same canvases)."""
        max_k = max(k for k, _ in parse_schedule(cfg.ipe_schedule)) if cfg.ipe else 1
        noise = cfg.init == "noise"
        slots = []
        for s, first in enumerate(init):
            extra = rng_for(seed, 2, s).choice(len(train_set), size=max_k * max_k - 1, replace=True).tolist()
            sources = [
                partial(load_source, train_set, idx, size, noise_seed=(seed * 7919 + s * 97 + j) if noise else None)
                for j, idx in enumerate([first, *extra])
            ]
            slots.append(Slot(sources))
        return slots

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        if context.teacher is None:
            raise ConfigError("dcod needs a teacher (the Fetch detector)")
        t0 = time.perf_counter()
        cfg = self.config.resolved(context.protocol)
        target = context.teacher.backend.inversion_target(
            context.teacher.checkpoint, protocol=context.protocol, device=context.device
        )
        size = target.image_size
        init, init_record = self.initial_indices(train_set, budget, context)
        slots = self._slots(train_set, init, size, cfg, context.seed)
        t1 = time.perf_counter()
        result = forge(slots, target, cfg, seed=context.seed, workdir=context.workdir, reporter=context.reporter)
        t2 = time.perf_counter()

        records = []
        for s, ((boxes, labels), _img) in enumerate(zip(result.targets, result.images)):
            records.append(
                ImageRecord(
                    f"dcod-{s:06d}", Path(f"dcod_{s:06d}.png"), size, size, boxes, labels, np.zeros(len(labels), bool)
                )
            )
        synthetic = DetectionDataset(f"dcod-{budget}", list(train_set.categories), records, source="dcod")

        def write_image(k: int, path: Path) -> None:
            from PIL import Image

            Image.fromarray(result.images[k]).save(path.with_suffix(".png"), format="PNG")

        manifest = {
            "method": self.name,
            "kind": "synthesis",
            "options": cfg.as_dict(),
            "budget": budget,
            "n_train": len(train_set),
            "seed": context.seed,
            "source": train_set.source,
            "source_fingerprint": train_set.fingerprint(),
            "initial_ids": [train_set.images[i].id for i in init],
            "teacher": {"detector": context.teacher.backend.name, "checkpoint": str(context.teacher.checkpoint.path)},
            "canvas": size,
            # the dtype the teacher ran in (amp); None: float32
            "forge_autocast": str(cfg.autocast_dtype(str(context.teacher.device)) or "").removeprefix("torch.") or None,
            **init_record,
            "loss_history": result.history,
            "timings": {
                "setup_s": round(t1 - t0, 3),
                "forge_s": round(t2 - t1, 3),
                "forge_s_per_iteration": round(result.seconds_per_iteration, 5),
            },
        }
        return write_condensed(synthetic, context.workdir / "condensed", manifest, image_writer=write_image)
