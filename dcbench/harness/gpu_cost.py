"""What a matrix would take on a named GPU, from counted FLOPs (``dcbench matrix --dry-run --gpu H100``).

The model of ``benchmarks/estimate_paper_cost.py``, shared with it: a detector backend that can count its steps
(an optional ``step_flops(imgsz, classes) -> (forge, train)``, the FLOPs of one image's forge step and training
step) gets seconds per step = FLOPs / (the GPU's dense tensor peak x ``EFFICIENCY``). The forge runs in TF32
(PyTorch's default for convolutions), training in mixed precision (Ultralytics' AMP), so each has its own peak.
It is a model, not a measurement: no GPU was reachable where these figures were made, and ``EFFICIENCY`` is an
assumption (``scripts/check_estimates.py`` compares the CPU estimates with what results recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

from dcbench.errors import ConfigError


@dataclass(frozen=True)
class GPU:
    name: str
    forge_tflops: float  # dense TF32 tensor peak (V100: FP32, it has no TF32)
    train_tflops: float  # dense FP16/BF16 tensor peak
    source: str


# dense (no sparsity: the datasheets' larger figures assume 2:4 sparsity) peaks, TFLOP/s
GPUS = {
    g.name: g
    for g in (
        GPU("V100", 15.7, 125.0, "NVIDIA Tesla V100 datasheet (SXM2): 15.7 FP32, 125 tensor"),
        GPU("A100", 156.0, 312.0, "NVIDIA A100 datasheet (SXM): TF32 156, FP16/BF16 312"),
        GPU("H100", 494.7, 989.4, "NVIDIA H100 datasheet (SXM5): TF32 989 and FP16 1979 with sparsity, half dense"),
        GPU("RTX4090", 82.6, 165.2, "NVIDIA Ada Lovelace whitepaper: TF32 82.6, FP16 with FP32 accumulate 165.2"),
    )
}
# the share of the peak a convolutional detector keeps at batch 16: an assumption (estimate_paper_cost.py's
# default, whose printed 15-50 % range shows how far the hours move with it), not a measured figure
EFFICIENCY = 0.3
DEFAULT_CLASSES = 80  # when a dataset's class count is not known: the head is a small share of the FLOPs


def get_gpu(name: str) -> GPU:
    """``h100``, ``H100``, ``rtx 4090``: the GPU of that name; anything else is a one-line error."""
    key = name.upper().replace(" ", "").replace("-", "")
    if key not in GPUS:
        raise ConfigError(f"unknown GPU {name!r} (known: {', '.join(GPUS)})")
    return GPUS[key]


class FlopCosts:
    """Seconds per step on ``gpu`` from counted FLOPs: the step costs of ``harness.estimate`` for a GPU no result
    was timed on."""

    missing = "no FLOP count"

    gpu: str | None

    def __init__(self, card: GPU, efficiency: float = EFFICIENCY):
        self.card, self.gpu, self.efficiency = card, card.name, efficiency
        # counted once per detector, size and class count (seconds each): a matrix asks for every cell
        self._counted: dict[tuple[str, int, int], tuple[float, float] | None] = {}

    def _per_image(self, backend, imgsz: int, classes: int) -> tuple[float, float] | None:
        key = (backend.name, imgsz, classes)
        if key not in self._counted:
            count = getattr(backend, "step_flops", None)
            self._counted[key] = None if count is None else count(imgsz, classes)
        return self._counted[key]

    def _seconds(self, backend, imgsz: int, batch: int, classes: int, which: int, tflops: float) -> float | None:
        flops = self._per_image(backend, imgsz, classes)
        return None if flops is None else batch * flops[which] / (tflops * 1e12 * self.efficiency)

    def train(self, backend, imgsz: int, batch: int, classes: int) -> float | None:
        return self._seconds(backend, imgsz, batch, classes, 1, self.card.train_tflops)

    teacher = train  # the same step: FLOPs do not tell a teacher's from a student's

    def forge(self, backend, imgsz: int, batch: int, classes: int) -> float | None:
        return self._seconds(backend, imgsz, batch, classes, 0, self.card.forge_tflops)

    def basis(self) -> str:
        g = self.card
        return (
            f"a model, not a measurement: counted FLOPs at an assumed {self.efficiency:.0%} of the {g.name}'s dense "
            f"peak ({g.forge_tflops:g} TFLOP/s for the forge, {g.train_tflops:g} for training; {g.source})"
        )
