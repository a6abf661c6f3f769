"""Uniform: a class-balanced draw of whole images, as is common in detection practice.

Each class should end up in an equal share of the selected images. An image counts for every class it contains.
Greedy, seeded: repeatedly take the class that the fewest selected images contain so far (ties: a seeded
shuffle of the classes), and add a random not-yet-selected image containing it. A rare class whose images are
all taken drops out and the budget goes to the others; when no class has images left, the rest of the budget is
filled with random remaining images (background-only ones). Deterministic per seed.
"""

from __future__ import annotations

import numpy as np

from dcbench.data.model import DetectionDataset
from dcbench.methods.selection import IndexSelection, rng_for


def uniform_select(classes_per_image: list[set[int]], num_classes: int, budget: int, seed: int) -> list[int]:
    n = len(classes_per_image)
    rng = rng_for(seed)
    class_order = rng.permutation(num_classes)  # the tie-break between equally covered classes
    rank = np.empty(num_classes, dtype=np.int64)
    rank[class_order] = np.arange(num_classes)
    # for each class, its images in a seeded random order; consumed from the front
    pools: dict[int, list[int]] = {c: [] for c in range(num_classes)}
    for i in rng.permutation(n).tolist():
        for c in classes_per_image[i]:
            pools[c].append(i)
    cursor = dict.fromkeys(range(num_classes), 0)
    covered = np.zeros(num_classes, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    picks: list[int] = []
    while len(picks) < budget:
        best = None
        for c in range(num_classes):
            pool = pools[c]
            while cursor[c] < len(pool) and taken[pool[cursor[c]]]:
                cursor[c] += 1
            if cursor[c] < len(pool) and (best is None or (covered[c], rank[c]) < (covered[best], rank[best])):
                best = c
        if best is None:
            break
        i = pools[best][cursor[best]]
        taken[i] = True
        picks.append(i)
        for c in classes_per_image[i]:
            covered[c] += 1
    if len(picks) < budget:
        rest = [i for i in rng.permutation(n).tolist() if not taken[i]]
        picks += rest[: budget - len(picks)]
    return picks


class UniformSelection(IndexSelection):
    name = "uniform"

    def select(self, train_set: DetectionDataset, budget: int, seed: int) -> list[int]:
        classes = [set(im.labels[~im.ignore].tolist()) for im in train_set.images]
        return sorted(uniform_select(classes, train_set.num_classes, budget, seed))
