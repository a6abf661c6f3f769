"""Condensation methods: what one provides is :class:`dcbench.api.CondensationMethod` (re-exported here with the
context it receives); the budget rule and whether a configured method needs the teacher."""

from __future__ import annotations

import math
import warnings
from typing import Any

# the contract lives in dcbench.api; these names stay importable from here
from dcbench.api import CondensationMethod, CondenseContext, Teacher
from dcbench.errors import ConfigError

__all__ = ["CondensationMethod", "CondenseContext", "Teacher", "budget_for", "needs_teacher"]


def needs_teacher(method: Any) -> bool:
    """Whether this method *instance* needs the Fetch teacher. Read off the instance, never the class: whether a
    method needs one may depend on its options (K-Center with ``extractor=resnet50:PATH`` does not)."""
    return bool(getattr(method, "requires_teacher", False))


def budget_for(ratio: float, n_train: int) -> int:
    """M = round(ratio * N) (halves round up), at least 1. Warns when rounding moves the ratio by over 10 %."""
    if not isinstance(ratio, (int, float)) or math.isnan(ratio) or not 0 < ratio <= 1:
        raise ConfigError(f"ratio must be a fraction in (0, 1], got {ratio!r} (1 % is 0.01)")
    if n_train < 1:
        raise ConfigError("the training set is empty")
    budget = max(1, math.floor(ratio * n_train + 0.5))
    effective = budget / n_train
    if abs(effective - ratio) / ratio > 0.10:
        warnings.warn(
            f"ratio {ratio:g} of {n_train} images gives {budget} image(s): an effective ratio of {effective:.4g}",
            stacklevel=2,
        )
    return budget
