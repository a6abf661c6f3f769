"""The image priors of the Forge loss: BatchNorm feature statistics, total variation, L2."""

from __future__ import annotations

import torch

# How one BatchNorm layer's mismatch is measured (``DCODConfig.bn_reduction``):
#   "l2"   ||mean_b - running_mean||_2 + ||var_b - running_var||_2, the plain norms of DeepInversion's and DIODE's
#          code (the spec's corrected R_bn; the default);
#   "sum"  the same norms squared, i.e. summed over channels (dcbench <= 0.1's default, kept for old results);
#   "mean" the squared differences averaged over channels (the ablation that made the squared form usable).
BN_REDUCTIONS = ("l2", "sum", "mean")


def statistics_mismatch(x: torch.Tensor, running_mean, running_var, dims: list[int]):
    """(batch mean - running mean, batch variance - running variance) per channel, in one pass over ``x``.

    The variance is E[y^2] - E[y]^2 of y = x - running_mean rather than ``x.var``: torch's variance over the
    (N, H, W) dimensions of a channels-first tensor is a slow strided reduction on a CPU (7.5 ms of a 1.16 s forge
    iteration per layer, 12 % of the Forge, and as much again backwards). Shifting by the running mean keeps the
    subtraction exact where it matters: near the running statistics, the regime R_bn drives the images to; far
    from them the error (float32 epsilon times the mean's square) is far below the mean term beside it."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    y = x - running_mean.view(shape)
    d_mean = y.mean(dims)
    return d_mean, (y * y).mean(dims) - d_mean * d_mean - running_var


class BatchNormStatistics:
    """Collects, during one forward pass, R_bn = sum over BatchNorm layers of that layer's statistics mismatch
    (see ``BN_REDUCTIONS``), the first layer to run weighted by ``first_coef`` (DIODE's ``first_bn_coef``)."""

    def __init__(self, module: torch.nn.Module, reduction: str = "l2", first_coef: float = 1.0):
        if reduction not in BN_REDUCTIONS:
            raise ValueError(f"bn reduction {reduction!r} is not one of {BN_REDUCTIONS}")
        self.reduction = reduction
        self.first_coef = float(first_coef)
        self.layers = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        self._terms: list[torch.Tensor] = []
        self._handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def _hook(self, module, inputs, _output) -> None:
        x = inputs[0].float()  # under autocast a layer's input may be bfloat16: its statistics are taken in float32
        dims = [0] + list(range(2, x.dim()))
        d_mean, d_var = statistics_mismatch(x, module.running_mean, module.running_var, dims)
        if self.reduction == "l2":
            term = torch.linalg.vector_norm(d_mean) + torch.linalg.vector_norm(d_var)
        elif self.reduction == "sum":
            term = (d_mean * d_mean).sum() + (d_var * d_var).sum()
        else:
            term = (d_mean * d_mean).mean() + (d_var * d_var).mean()
        # "first" in the order layers run, not the order they were defined in
        self._terms.append(term * self.first_coef if not self._terms else term)

    def reset(self) -> None:
        self._terms = []

    def terms(self) -> list[torch.Tensor]:
        """Per layer, in the order they ran since the last reset (first-layer weight applied)."""
        return list(self._terms)

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
