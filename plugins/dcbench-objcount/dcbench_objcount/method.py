"""Object-count-aware selection.

In detection a dense image carries more supervision than a sparse one. This selector takes images in order of
their object count (most first), but lets each class claim at most ``class_cap`` of the budget through the images
where it is the most frequent class, so that a few classes with crowded images (RBCs, people) do not take it all.
Ties are broken by a seeded random order; images left over fill the budget by count alone.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from dcbench.api import ConfigError, DetectionDataset, IndexSelection, rng_for


class ObjectCountSelection(IndexSelection):
    name = "objcount"

    def __init__(self, class_cap: float = 0.5):
        if not isinstance(class_cap, (int, float)) or not 0 < class_cap <= 1:
            raise ConfigError(f"objcount: class_cap must be a fraction in (0, 1], got {class_cap!r}")
        self.class_cap = float(class_cap)

    def describe(self) -> dict:
        return {"class_cap": self.class_cap}

    def select(self, train_set: DetectionDataset, budget: int, seed: int) -> list[int]:
        n = len(train_set)
        counts = np.array([int((~im.ignore).sum()) for im in train_set.images])
        tiebreak = rng_for(seed).permutation(n)
        order = sorted(range(n), key=lambda i: (-counts[i], tiebreak[i]))
        cap = max(1, int(self.class_cap * budget))
        claimed: Counter[int] = Counter()
        picks, skipped = [], []
        for i in order:
            im = train_set.images[i]
            labels = im.labels[~im.ignore]
            dominant = Counter(labels.tolist()).most_common(1)[0][0] if len(labels) else -1
            if dominant >= 0 and claimed[dominant] >= cap:
                skipped.append(i)
                continue
            picks.append(i)
            claimed[dominant] += 1
            if len(picks) == budget:
                break
        picks += skipped[: budget - len(picks)]
        return sorted(picks)
