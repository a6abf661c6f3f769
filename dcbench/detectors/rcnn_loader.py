"""The R-CNN backends' training input: a Dataset that decodes one image and builds its target, fed by a DataLoader.

As torchvision's detection references do, images are decoded (and, for Detectron2, resized) by DataLoader workers
while the model trains on the previous batch, instead of inside the training step. What stays in the main process
is everything random: :class:`EpochBatches` draws each epoch's order and every image's horizontal flip from one
generator seeded with the training seed, in exactly the order the in-step path drew them (the epoch's permutation,
then one draw per image of each batch in turn). A worker only decodes what it is told, so the batches, and the
trained weights, are the same for a seed whatever the number of workers, and the same as the in-step path gave.

The sampler spans every epoch, so one iterator covers the whole training run: prefetching runs across epoch
boundaries, which matters because condensed sets are tiny (a 1 % set trains for hundreds of one-step epochs, and
an iterator per epoch would drain the prefetch queue and resynchronise the workers at every step).

Imported lazily (it imports torch at module level); :mod:`dcbench.detectors.rcnn_common` is what backends use.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from dcbench.errors import ConfigError

log = logging.getLogger(__name__)

WORKERS_ENV = "DCBENCH_LOADER_WORKERS"
# None: decode inside the training step, in the main process (the path before the DataLoader; kept for benchmarks
# and as a fallback); an int: DataLoader workers (0: the DataLoader in the main process); "auto": see below.
LoaderWorkers = Union[int, None, Literal["auto"]]
# On the CPU the workers compete with the training step for the same cores, and decoding is a few ms per image
# against seconds of forward and backward: benchmarks/bench_rcnn_loader.py measured no gain from workers on
# a 2-core CPU (16 images at 320 px, batch 4: 3.31 s per step decoding in the step, 3.32 / 3.35 / 3.37 s with 0 / 1
# / 2 workers; decoding a batch is about 10 ms of it), so the CPU default keeps decoding in the main process.
CPU_WORKERS = 0
GPU_MAX_WORKERS = 4  # torchvision's detection reference uses 4 per GPU


def resolve_workers(requested: LoaderWorkers, device: str) -> int | None:
    """The number of DataLoader workers to use: ``requested``, or for "auto" ``$DCBENCH_LOADER_WORKERS`` (an integer,
    or ``step`` for in-step decoding), else min(4, CPU count) on a GPU and :data:`CPU_WORKERS` on the CPU."""
    if requested == "auto":
        env = os.environ.get(WORKERS_ENV, "").strip()
        if env:
            requested = _parse_workers(env)
        elif device.startswith("cuda"):
            return min(GPU_MAX_WORKERS, os.cpu_count() or 1)
        else:
            return CPU_WORKERS
    if requested is None:
        return None
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 0:
        raise ConfigError(f"loader workers must be a non-negative integer, 'step' or 'auto', got {requested!r}")
    return requested


def _parse_workers(text: str) -> int | None:
    if text == "step":
        return None
    if text.isdigit():
        return int(text)
    raise ConfigError(f"${WORKERS_ENV} must be a non-negative integer or 'step', got {text!r}")


class EpochBatches(Sampler[list[tuple[int, bool]]]):
    """Batches of ``(index, flip)`` for ``epochs`` epochs: each epoch a seeded permutation cut into batches, the
    last one short, and one flip draw per image. Iterating again starts again from the seed (the same batches)."""

    def __init__(self, n: int, batch: int, epochs: int, seed: int):
        self.n, self.batch, self.epochs, self.seed = n, batch, epochs, seed

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch)

    def __len__(self) -> int:
        return self.epochs * self.steps_per_epoch

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epochs):
            order = torch.randperm(self.n, generator=gen).tolist()
            for start in range(0, self.n, self.batch):
                yield [(i, torch.rand((), generator=gen).item() < 0.5) for i in order[start : start + self.batch]]


class TrainSamples(Dataset):
    """``prepare(record, flip, ...)`` for an ``(index, flip, ...)`` key: one decoded image and its target, on the CPU.
    ``prepare`` must be picklable (a module-level function or a functools.partial of one) for spawned workers."""

    def __init__(self, records: Sequence, prepare: Callable[[Any, bool], Any]):
        self.records = list(records)
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: tuple) -> Any:
        index, *rest = key  # (index, flip), or with what else a sampler draws for the sample (a mosaic's parts)
        return self.prepare(self.records[index], *rest)


def as_list(samples: list) -> list:
    """Collate: detection images differ in size and targets in length, so a batch stays a list of samples."""
    return list(samples)


def seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's generators in a worker from its torch seed, which the DataLoader derives from its
    seeded generator: nothing random runs in the workers today, but an augmentation added there stays seeded."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def training_batches(
    records: Sequence,
    prepare: Callable[[Any, bool], Any],
    sampler: EpochBatches,
    *,
    workers: int | None,
    seed: int,
    device: str,
) -> Iterator[list]:
    """Every training batch, as a list of prepared samples: decoded in the step (``workers=None``) or by a
    DataLoader with ``workers`` workers, which prefetches while the model trains."""
    samples = TrainSamples(records, prepare)
    if workers is None:
        return ([samples[key] for key in keys] for keys in sampler)
    log.debug("training input: DataLoader with %d worker(s)", workers)
    loader = DataLoader(
        samples,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=as_list,
        pin_memory=device.startswith("cuda"),  # lets the step's non_blocking copies overlap the GPU's work
        worker_init_fn=seed_worker if workers else None,
        # its own generator: the DataLoader draws the workers' base seed from it, and without one it would draw
        # from the global generator that the model's samplers (RPN, ROI heads) use, changing the trained weights
        generator=torch.Generator().manual_seed(seed),
    )
    return iter(loader)
