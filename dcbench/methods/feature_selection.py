"""K-Center and Herding: selection on whole-image features (see :mod:`dcbench.methods.features`)."""

from __future__ import annotations

import time

import numpy as np

from dcbench.api import CondenseContext
from dcbench.condensed import CondensedSet
from dcbench.data.model import DetectionDataset
from dcbench.methods.features import image_features, parse_extractor
from dcbench.methods.greedy import herding, kcenter_greedy
from dcbench.methods.selection import rng_for, selection_to_condensed


class FeatureSelection:
    name = "feature-selection"

    def __init__(self, extractor: str = "teacher"):
        parse_extractor(extractor)  # fail early, before any training
        self.extractor = extractor

    @property
    def requires_teacher(self) -> bool:
        return parse_extractor(self.extractor)[0] == "teacher"

    def describe(self) -> dict:
        return {"extractor": self.extractor}

    def pick(self, features: np.ndarray, budget: int, seed: int) -> list[int]:
        raise NotImplementedError

    def features(self, train_set: DetectionDataset, context: CondenseContext) -> tuple[np.ndarray, dict]:
        return image_features(
            train_set,
            self.extractor,
            teacher=context.teacher,
            protocol=context.protocol,
            device=context.device,
            reporter=context.reporter,
        )

    def condense(self, train_set: DetectionDataset, budget: int, *, context: CondenseContext) -> CondensedSet:
        t0 = time.perf_counter()
        feats, record = self.features(train_set, context)
        t1 = time.perf_counter()
        picks = self.pick(feats, budget, context.seed)
        t2 = time.perf_counter()
        return selection_to_condensed(
            train_set,
            sorted(picks),
            method=self.name,
            options=self.describe(),
            budget=budget,
            context=context,
            started=t1,
            extra={
                "features": record,
                "pick_order": [train_set.images[i].id for i in picks],
                "feature_s": round(t1 - t0, 3),
                "pick_s": round(t2 - t1, 3),
            },
        )


class KCenterSelection(FeatureSelection):
    """Greedy k-center (max-min L2 distance); the first center is drawn with the seed."""

    name = "kcenter"

    def pick(self, features: np.ndarray, budget: int, seed: int) -> list[int]:
        first = int(rng_for(seed).integers(len(features)))
        return kcenter_greedy(features, budget, first)


class HerdingSelection(FeatureSelection):
    """Herding towards the mean of all features. Deterministic given the features (the seed acts through the
    teacher that produced them)."""

    name = "herding"

    def pick(self, features: np.ndarray, budget: int, seed: int) -> list[int]:
        return herding(features, budget)
