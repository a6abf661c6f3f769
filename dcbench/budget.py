"""The budget rule: how many images a ratio of a train set keeps. Part of the plugin contract (``dcbench.api``
exports it), below every layer that uses it."""

from __future__ import annotations

import math
import warnings

from dcbench.errors import ConfigError


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
