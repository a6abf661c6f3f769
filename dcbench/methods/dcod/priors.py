"""The image priors of the Forge loss: BatchNorm feature statistics, total variation, L2."""

from __future__ import annotations

import torch


class BatchNormStatistics:
    """Collects, during one forward pass, sum over BatchNorm layers of
    ||batch mean - running mean||^2 + ||batch var - running var||^2 of each layer's input (DeepInversion-style)."""

    def __init__(self, module: torch.nn.Module, reduction: str = "sum"):
        self.reduction = reduction  # "sum" over channels (the spec's squared norms) or "mean" over channels
        self.layers = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        self._terms: list[torch.Tensor] = []
        self._handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def _hook(self, module, inputs, _output) -> None:
        x = inputs[0]
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        d_mean, d_var = (mean - module.running_mean) ** 2, (var - module.running_var) ** 2
        if self.reduction == "mean":
            self._terms.append(d_mean.mean() + d_var.mean())
        else:
            self._terms.append(d_mean.sum() + d_var.sum())

    def reset(self) -> None:
        self._terms = []

    def value(self) -> torch.Tensor:
        if not self._terms:
            raise RuntimeError("no BatchNorm layer ran since the last reset (is the module BatchNorm-free?)")
        return torch.stack(self._terms).sum()

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def total_variation(x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Per image, sum (or mean) over pixels of sqrt(dx^2 + dy^2), averaged over the batch (isotropic TV)."""
    dx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
    dy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    tv = torch.sqrt(dx * dx + dy * dy + 1e-8)
    per_image = tv.flatten(1).sum(1) if reduction == "sum" else tv.flatten(1).mean(1)
    return per_image.mean()


def l2_prior(x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Per image, squared L2 norm of the pixels (or its per-pixel mean), averaged over the batch."""
    sq = (x * x).flatten(1)
    return (sq.sum(1) if reduction == "sum" else sq.mean(1)).mean()
