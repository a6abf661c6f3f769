"""The selection algorithms themselves, on a feature matrix: pure torch, O(N) extra memory.

Neither algorithm ever holds an N x budget (or N x N) distance matrix: each step is one pass over the features
(a matrix-vector product), so memory is the features plus a few length-N vectors, and time is budget x N x D.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensor(features) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features, dtype=np.float32) if not isinstance(features, torch.Tensor) else features)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (N, D) matrix, got shape {tuple(x.shape)}")
    return x.float()


def _squared_norms(x: torch.Tensor) -> torch.Tensor:
    # a reduction kernel: (x * x).sum(1) would allocate a second N x D matrix (0.9 GB at COCO scale)
    return torch.linalg.vector_norm(x, dim=1).square_()


def _check_budget(budget: int, n: int) -> None:
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is not in [1, {n}]")


def kcenter_greedy(features, budget: int, first: int) -> list[int]:
    """Greedy k-center (Gonzalez): start from ``first``, then repeatedly add the point farthest (L2) from its
    nearest chosen center. Ties go to the lowest index. Returns indices in the order picked."""
    x = _as_tensor(features)
    n = x.shape[0]
    _check_budget(budget, n)
    if not 0 <= first < n:
        raise ValueError(f"first center {first} is not in [0, {n})")
    sq = _squared_norms(x)
    # squared distance to the nearest center; ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2 avoids an (N, D) temporary
    nearest = (sq - 2 * (x @ x[first]) + sq[first]).clamp_(min=0)
    nearest[first] = -1.0  # chosen points can never be picked again
    picks = [first]
    for _ in range(budget - 1):
        i = int(torch.argmax(nearest))
        picks.append(i)
        torch.minimum(nearest, (sq - 2 * (x @ x[i]) + sq[i]).clamp_(min=0), out=nearest)
        nearest[picks] = -1.0
    return picks


def herding(features, budget: int) -> list[int]:
    """Herding: repeatedly add the point that brings the mean of the selection closest (L2) to the mean of all
    points -- the arg*min* of the distance. Ties go to the lowest index. Returns indices in the order picked.

    With ``k`` points selected summing to ``s``, adding ``x_i`` gives a mean at distance
    ``|| mu - (s + x_i) / (k + 1) ||``; minimising it is minimising ``||x_i||^2 - 2 x_i . w`` with
    ``w = (k + 1) mu - s``.
    """
    x = _as_tensor(features)
    n = x.shape[0]
    _check_budget(budget, n)
    sq = _squared_norms(x)
    mu = x.mean(0)
    total = torch.zeros_like(mu)
    taken = torch.zeros(n, dtype=torch.bool)
    picks: list[int] = []
    for k in range(budget):
        w = (k + 1) * mu - total
        score = sq - 2 * (x @ w)
        score[taken] = float("inf")
        i = int(torch.argmin(score))
        picks.append(i)
        taken[i] = True
        total += x[i]
    return picks


def covering_radius(features, picks: list[int]) -> float:
    """Largest distance from any point to its nearest picked point (what k-center minimises)."""
    x = _as_tensor(features)
    sq = _squared_norms(x)
    nearest = torch.full((x.shape[0],), float("inf"))
    for i in picks:
        torch.minimum(nearest, (sq - 2 * (x @ x[i]) + sq[i]).clamp_(min=0), out=nearest)
    return float(nearest.max().sqrt())
