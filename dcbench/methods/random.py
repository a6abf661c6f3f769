"""Random: ``budget`` training images drawn uniformly without replacement. The DCOD paper's main baseline."""

from __future__ import annotations

import time

from dcbench.data.model import DetectionDataset
from dcbench.methods.base import CondenseContext
from dcbench.methods.condensed import CondensedSet
from dcbench.methods.selection import rng_for, selection_to_condensed


class RandomSelection:
    requires_teacher = False
    name = "random"

    def describe(self) -> dict:
        return {}

    def select(self, train_set: DetectionDataset, budget: int, seed: int) -> list[int]:
        # sorted: the condensed set lists images in dataset order, so its files do not depend on draw order
        return sorted(rng_for(seed).choice(len(train_set), size=budget, replace=False).tolist())

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        started = time.perf_counter()
        idx = self.select(train_set, budget, context.seed)
        return selection_to_condensed(train_set, idx, method=self.name, options=self.describe(), budget=budget,
                                      context=context, started=started)
