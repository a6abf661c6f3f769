"""Random: ``budget`` training images drawn uniformly without replacement. The DCOD paper's main baseline."""

from __future__ import annotations

from dcbench.data.model import DetectionDataset
from dcbench.methods.selection import IndexSelection, rng_for


class RandomSelection(IndexSelection):
    name = "random"

    def select(self, train_set: DetectionDataset, budget: int, seed: int) -> list[int]:
        # sorted: the condensed set lists images in dataset order, so its files do not depend on draw order
        return sorted(rng_for(seed).choice(len(train_set), size=budget, replace=False).tolist())
