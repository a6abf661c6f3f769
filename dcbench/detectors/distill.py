"""Feature distillation from a frozen teacher, for ``labels = distill`` students: PKD (``../shared/docs/
distill-students.md``, section 1), shared by every backend that distils.

PKD compares each level's student and teacher maps after normalising every channel over the batch and the
positions (mean 0, unit standard deviation), so it asks for the teacher's *pattern* of activations, not its scale:
``loss = weight * mean((S_hat - T_hat) ** 2) / 2``, about the mean over channels of 1 - Pearson r. Channel c of the
student must mean channel c of the teacher: maps of different widths are refused here, in one line, rather than
silently compared; a student whose map is smaller than the teacher's is resized to it (bilinear), as PKD does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dcbench.errors import ConfigError

if TYPE_CHECKING:
    import torch

PKD_WEIGHT = 6.0  # per level, the weight of OD3's Faster R-CNN R101 -> R50 config (distill-students.md, section 1)


def _normalised(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    flat = x.permute(1, 0, 2, 3).reshape(c, -1)
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, keepdim=True)  # unbiased, as PKD's
    return ((flat - mean) / (std + 1e-6)).reshape(c, n, h, w)


def pkd_level(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """PKD of one level, unweighted, in fp32."""
    import torch.nn.functional as F

    student, teacher = student.float(), teacher.float()
    if student.shape[2:] != teacher.shape[2:]:
        student = F.interpolate(student, size=teacher.shape[2:], mode="bilinear", align_corners=False)
    if student.shape != teacher.shape:
        raise ConfigError(
            f"feature distillation needs maps of the same shape: the student's is {tuple(student.shape)}, the "
            f"teacher's {tuple(teacher.shape)}"
        )
    return ((_normalised(student) - _normalised(teacher)) ** 2).mean() / 2


def pkd(students: list[torch.Tensor], teachers: list[torch.Tensor], weight: float = PKD_WEIGHT) -> torch.Tensor:
    """The sum over levels of ``weight`` x PKD."""
    if len(students) != len(teachers):
        raise ConfigError(f"feature distillation: the student has {len(students)} levels, the teacher {len(teachers)}")
    return weight * sum((pkd_level(s, t) for s, t in zip(students, teachers)), start=students[0].new_zeros(()))


def check_widths(student: list[int], teacher: list[int], student_name: str, teacher_name: str) -> None:
    """One line when the two models' distilled levels differ in channels (an adapter is not built: the refusal is
    what the result records)."""
    if student != teacher:
        raise ConfigError(
            f"labels=distill: the student {student_name} and the teacher {teacher_name} differ in the channels of "
            f"their distilled levels ({student} vs {teacher}); dcbench distils between models of equal widths only "
            f"(the same architecture, or --eval-detector equal to --detector)"
        )


@dataclass
class DistillLog:
    """The distillation term as training went: its mean per epoch (weighted, as added to the loss)."""

    per_epoch: list[float] = field(default_factory=list)
    steps_per_epoch: int | None = None  # set: an epoch ends after that many steps; else end_epoch() says when
    _sum: float = 0.0
    _n: int = 0

    def add(self, value: float) -> None:
        self._sum += value
        self._n += 1
        if self.steps_per_epoch is not None and self._n == self.steps_per_epoch:
            self.end_epoch()

    def end_epoch(self) -> None:
        if self._n:
            self.per_epoch.append(self._sum / self._n)
        self._sum, self._n = 0.0, 0

    def as_dict(self, weight: float) -> dict:
        return {"loss": "pkd", "weight": weight, "per_epoch": [round(v, 6) for v in self.per_epoch]}
