"""The full-data reference: the whole train split, no condensation. The upper-bound row of every table.

Training on the whole split is exactly what Fetch does, so the harness takes the cached teacher of the evaluation
detector as this cell's student (``student_is_teacher``) instead of training the same model twice.
"""

from __future__ import annotations

from typing import ClassVar

from dcbench.data.model import DetectionDataset
from dcbench.errors import ConfigError
from dcbench.methods.selection import IndexSelection


class FullData(IndexSelection):
    name = "full"
    student_is_teacher: ClassVar[bool] = True

    def select(self, train_set: DetectionDataset, budget: int, seed: int) -> list[int]:
        if budget != len(train_set):
            raise ConfigError(
                f"method 'full' keeps the whole train split: use ratio 1 (got a budget of {budget} "
                f"for {len(train_set)} images)"
            )
        return list(range(len(train_set)))
