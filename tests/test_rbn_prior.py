"""The BatchNorm prior R_bn of DCOD's Forge, at the paper's detector: it falls when optimised alone against a teacher
whose BatchNorm statistics describe data, and it cannot fall against one whose statistics are still their initial
values (why R_bn stayed flat at ``smoke``: docs/methods/dcod.md, benchmarks/rbn_floor.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dcbench.detectors.yolo_classic.model import build
from dcbench.methods.dcod.priors import BatchNormStatistics

ROOT = Path(__file__).resolve().parents[1]


def _data_like(n: int, size: int, seed: int) -> torch.Tensor:
    """Images with the broad structure of photographs: smooth colour fields, not pixel noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand((n, 3, size // 32, size // 32), generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def _calibrated(arch: str, size: int) -> torch.nn.Module:
    """A freshly built model whose BatchNorm running statistics are those of ``_data_like`` images (a cumulative
    average over a few batches, as a trained teacher's describe its training data), then frozen for inversion."""
    torch.manual_seed(0)
    model = build(arch, 20)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
    model.train()
    with torch.no_grad():
        for seed in range(2):
            model(_data_like(2, size, seed))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _optimise_alone(model: torch.nn.Module, size: int, steps: int, lr: float) -> list[float]:
    """R_bn before and after ``steps`` Adam steps on it alone, from DCOD's noise start: the benchmark's own loop
    (benchmarks/rbn_floor.py), so the test checks what the benchmark reports."""
    bench = _rbn_floor()
    bn = BatchNormStatistics(model, "l2", 1.0)
    try:
        return list(bench.optimise_alone(SimpleNamespace(module=model), bn, bench._noise(2, size, 1), lr, steps))
    finally:
        bn.close()


def _rbn_floor():
    spec = importlib.util.spec_from_file_location("rbn_floor", ROOT / "benchmarks" / "rbn_floor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_r_bn_alone_falls_at_the_papers_scale():
    """yolov3-spp-classic at 512 px, every one of its BatchNorm layers in the prior."""
    model = _calibrated("yolov3-spp", 512)
    values = _optimise_alone(model, 512, steps=4, lr=0.05)
    assert values[-1] < 0.9 * values[0], f"R_bn {values[0]:.1f} -> {values[-1]:.1f} in 4 steps"


def test_r_bn_cannot_fall_against_initial_batchnorm_statistics():
    """What a barely trained teacher looks like (running mean 0, variance 1): its layers' inputs have a variance far
    below 1 whatever the image, so R_bn is a floor; calibrated, the same model's R_bn falls within as many steps."""
    torch.manual_seed(0)
    raw = build("yolov3-tiny", 20).eval()
    for p in raw.parameters():
        p.requires_grad_(False)
    flat = _optimise_alone(raw, 128, steps=20, lr=0.05)
    assert abs(flat[-1] - flat[0]) < 0.02 * flat[0], f"R_bn {flat[0]:.1f} -> {flat[-1]:.1f}"
    falls = _optimise_alone(_calibrated("yolov3-tiny", 128), 128, steps=20, lr=0.05)
    assert falls[-1] < 0.7 * falls[0], f"R_bn {falls[0]:.1f} -> {falls[-1]:.1f}"
