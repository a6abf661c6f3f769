"""Why R_bn does or does not fall: the BatchNorm prior of a teacher, optimised alone, and the part no image can reach.

    python benchmarks/rbn_floor.py --teacher ~/.cache/dcbench/teachers/KEY --detector yolov3-tiny --imgsz 64
    python benchmarks/rbn_floor.py --teacher ~/.cache/dcbench/teachers/KEY --detector yolo11n --imgsz 160

``--teacher``: a teacher's cache folder (it holds ``detector.pt``; ``dcbench run`` prints the key) or the weight
file. Printed: how far the teacher's BatchNorm running statistics are from their initial values (mean 0, var 1),
R_bn optimised alone (Adam on the pixels, clamped to [0, 1], as the Forge does) at several learning rates, and
R_bn at a noise image split into its mean part and its variance part, with the first and last layers' batch and
running variance. A teacher whose running variances are still near 1 while its layers' inputs have a variance
near 0 has an R_bn that no image can lower: that is a teacher too briefly trained, not a broken prior.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def _target(teacher: Path, detector: str, imgsz: int):
    from dcbench.api import Checkpoint
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    weights = teacher / "detector.pt" if teacher.is_dir() else teacher
    backend = make_detector(detector)
    checkpoint = Checkpoint(detector=detector, path=weights, meta={})
    return backend.inversion_target(
        checkpoint, protocol=get_protocol("smoke").with_overrides(imgsz=imgsz), device="cpu"
    )


def _noise(batch: int, imgsz: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.5 + 0.2 * torch.randn((batch, 3, imgsz, imgsz), generator=g)).clamp(0, 1)  # DCOD's noise start


def optimise_alone(target, bn, x: torch.Tensor, lr: float, iterations: int) -> tuple[float, float]:
    """R_bn before and after ``iterations`` Adam steps on R_bn alone."""
    x = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    values = []
    for _ in range(iterations + 1):
        bn.reset()
        target.module(x)
        value = bn.value()
        values.append(value.item())
        opt.zero_grad()
        value.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return values[0], values[-1]


def split_parts(target, layers, x: torch.Tensor) -> list[tuple[float, float, float, float]]:
    """Per BatchNorm layer, in the order they run: the mean part and the variance part of its R_bn term, the
    batch variance of its input and its running variance (each averaged over channels)."""
    parts: list[tuple[float, float, float, float]] = []

    def hook(m, inputs, _out):
        v = inputs[0]
        mean, var = v.mean([0, 2, 3]), v.var([0, 2, 3], unbiased=False)
        d_mean, d_var = (mean - m.running_mean).norm().item(), (var - m.running_var).norm().item()
        parts.append((d_mean, d_var, var.mean().item(), m.running_var.mean().item()))

    handles = [layer.register_forward_hook(hook) for layer in layers]
    with torch.no_grad():
        target.module(x)
    for h in handles:
        h.remove()
    return parts


def main() -> None:
    from dcbench.methods.dcod.priors import BatchNormStatistics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--detector", default="yolov3-tiny")
    ap.add_argument("--imgsz", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--lr", type=float, nargs="+", default=[0.002, 0.05, 0.2])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    target = _target(args.teacher.expanduser(), args.detector, args.imgsz)
    bn = BatchNormStatistics(target.module, "l2", 1.0)
    running_var = torch.cat([layer.running_var.flatten() for layer in bn.layers])
    print(
        f"{args.detector} at {args.imgsz} px: {len(bn.layers)} BatchNorm layers; running variance mean "
        f"{running_var.mean():.3f}, median {running_var.median():.3f} (1 at initialisation)"
    )
    x = _noise(args.batch, args.imgsz, args.seed)
    for lr in args.lr:
        before, after = optimise_alone(target, bn, x, lr, args.iterations)
        print(f"R_bn alone, Adam lr {lr:g}, {args.iterations} iterations: {before:.1f} -> {after:.1f}")
    parts = split_parts(target, bn.layers, x)
    mean_part, var_part = sum(p[0] for p in parts), sum(p[1] for p in parts)
    print(f"R_bn at the noise image: mean part {mean_part:.1f}, variance part {var_part:.1f}")
    for i in (0, 1, len(parts) - 2, len(parts) - 1):
        d_mean, d_var, batch_var, run_var = parts[i]
        print(f"  layer {i}: batch variance {batch_var:.4f}, running variance {run_var:.3f}, variance part {d_var:.2f}")
    bn.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
