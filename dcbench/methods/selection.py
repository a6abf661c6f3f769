"""Shared by every method that selects real images (Random, Uniform, K-Center, Herding): indices in, condensed
set out, with one manifest layout."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from dcbench.condensed import CondensedSet, write_condensed
from dcbench.data.model import DetectionDataset
from dcbench.errors import ConfigError

if TYPE_CHECKING:  # dcbench.api exports this module's helpers: it is imported below the contract, never above it
    from dcbench.api import CondenseContext


def check_selection(indices: Sequence[int], n: int, budget: int) -> list[int]:
    idx = [int(i) for i in indices]
    if len(idx) != budget or len(set(idx)) != budget or any(not 0 <= i < n for i in idx):
        raise ConfigError(f"selection of {len(idx)} indices is not {budget} distinct images of {n}")
    return idx


def selection_to_condensed(
    train_set: DetectionDataset,
    indices: Sequence[int],
    *,
    method: str,
    options: dict,
    budget: int,
    context: CondenseContext,
    started: float,
    extra: dict | None = None,
) -> CondensedSet:
    idx = check_selection(indices, len(train_set), budget)
    subset = train_set.subset(idx, name=f"{method}-{budget}")
    manifest = {
        "method": method,
        "options": options,
        "budget": budget,
        "n_train": len(train_set),
        "seed": context.seed,
        "source": train_set.source,
        "source_fingerprint": train_set.fingerprint(),
        "selected_ids": [train_set.images[i].id for i in idx],
        "kind": "selection",
        **(extra or {}),
        "timings": {"select_s": round(time.perf_counter() - started, 4)},
    }
    return write_condensed(subset, context.workdir / "condensed", manifest)


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """A generator that depends only on the seed (and a stream id), never on the clock."""
    return np.random.default_rng([int(seed), *stream])


class IndexSelection:
    """Base for teacher-free selectors: implement ``select(train_set, budget, seed) -> indices``."""

    requires_teacher: ClassVar[bool] = False
    name: ClassVar[str]  # every selector names itself: registration refuses one that does not

    def describe(self) -> dict:
        return {}

    def select(self, train_set: DetectionDataset, budget: int, seed: int) -> list[int]:
        raise NotImplementedError

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        started = time.perf_counter()
        idx = self.select(train_set, budget, context.seed)
        return selection_to_condensed(
            train_set, idx, method=self.name, options=self.describe(), budget=budget, context=context, started=started
        )
