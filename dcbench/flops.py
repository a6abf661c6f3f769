"""Counting a step's FLOPs with torch's own counter: what a backend's optional ``step_flops`` reports, below the
harness that turns the counts into GPU-hours (``dcbench.harness.gpu_cost``)."""

from __future__ import annotations

from collections.abc import Callable


def count_flops(step: Callable[[], object]) -> float:
    """The FLOPs torch runs in ``step()`` (convolutions and matrix products, forward and backward): what a backend's
    ``step_flops`` counts one image's step with."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())
