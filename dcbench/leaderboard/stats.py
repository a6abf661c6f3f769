"""How sure a leaderboard can be that a row differs from Random: paired differences, intervals and tests.

Rows are compared with Random *at the same seed* where both ran it: a seed fixes the teacher, the student's
initialisation and, for DCOD, its starting images, so the per-seed difference removes what the two rows share.
With fewer than ``MIN_PAIRS`` common seeds no interval is given. Rows with no seed in common with Random are
compared unpaired (Welch) and labelled so, and so are fixed sets (``dcbench eval``'s external sets): their seed
seeds only the student, never the images, so it shares nothing with Random's seed that pairing could remove.

Two figures per row:

* the mean difference with its 95 % t interval (paired: the differences' mean and standard error; unpaired:
  Welch). The marker of a significant win or loss follows the interval: it excludes zero.
* an exact sign-flip permutation p-value (paired rows): the share of the 2^n sign assignments of the differences
  whose mean is at least as far from zero as the observed one. It assumes no normality, but with n seeds it
  cannot go below 2 / 2^n (0.0625 for 5 seeds), so it is shown beside the interval, not used for the marker.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

MIN_PAIRS = 3
LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    kind: str  # "paired", "unpaired", or "too few" (fewer than MIN_PAIRS paired seeds: no interval)
    n: int  # paired seeds, or the smaller of the two groups for an unpaired comparison
    mean: float  # mean difference (row - Random)
    low: float | None = None
    high: float | None = None
    p_signflip: float | None = None

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    @property
    def marker(self) -> str:
        """▲ a win, ▼ a loss, significant at 5 % (the 95 % interval excludes zero); empty otherwise."""
        if not self.significant:
            return ""
        return "▲" if self.mean > 0 else "▼"

    def as_columns(self, prefix: str = "vs_random") -> dict:
        d = asdict(self)
        d.update(half_width=self.half_width, significant=self.significant, marker=self.marker)
        return {f"{prefix}_{k}": v for k, v in d.items()}


def t_quantile(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + LEVEL / 2, df))


def seeds_for(half_width: float, n: int, target: float, *, most: int = 1000) -> int | None:
    """Paired seeds whose 95 % interval would be ``target`` wide (half-width) at the spread behind ``half_width``,
    an interval from ``n`` seeds: the standard deviation of the differences is held, only n grows. None when even
    ``most`` seeds would not do; a planning figure, as the spread is itself estimated from n seeds."""
    if n < 2 or half_width <= 0:
        return None
    return seeds_for_spread(half_width * math.sqrt(n) / t_quantile(n - 1), target, most=most)


def seeds_for_spread(sd: float, target: float, *, most: int = 1000) -> int | None:
    """Paired seeds whose 95 % t interval of the mean difference is at most ``target`` (half-width), for
    differences of standard deviation ``sd``; None when even ``most`` would not do."""
    return next((m for m in range(2, most + 1) if t_quantile(m - 1) * sd / math.sqrt(m) <= target), None)


def pooled_std(groups: list[list[float]]) -> tuple[float, int]:
    """The standard deviation within groups (each group's own mean removed), pooled, and its degrees of freedom:
    how much repeats of one thing (students of one set) spread. (nan, 0) when no group has two values."""
    dof = sum(len(g) - 1 for g in groups if g)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups if len(g) > 1) / dof), dof


def sign_flip_p(diffs: list[float]) -> float:
    """Exact two-sided p-value of the mean difference under random signs (counts all 2^n assignments).

    The 2^n signed sums are built by doubling, each still added left to right as ``sum(s * d)`` would (so the count
    is the same to the last tie): 20 seeds take milliseconds, where a Python loop over the assignments took seconds
    per row, minutes per leaderboard."""
    import numpy as np

    observed = abs(sum(diffs)) - 1e-12  # ties count as at least as extreme
    sums = np.zeros(1)
    for d in diffs:
        sums = np.concatenate([sums + d, sums - d])
    return int(np.count_nonzero(np.abs(sums) >= observed)) / 2 ** len(diffs)


def paired(diffs: list[float]) -> Comparison:
    n = len(diffs)
    mean = sum(diffs) / n if n else float("nan")
    if n < MIN_PAIRS:
        return Comparison("too few", n, mean)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Comparison("paired", n, mean, mean - half, mean + half, sign_flip_p(diffs) if n <= 20 else None)


def unpaired(a: list[float], b: list[float]) -> Comparison:
    """Welch's interval for mean(a) - mean(b)."""
    na, nb = len(a), len(b)
    mean = sum(a) / na - sum(b) / nb
    if min(na, nb) < 2:
        return Comparison("too few", min(na, nb), mean)
    va = sum((x - sum(a) / na) ** 2 for x in a) / (na - 1) / na
    vb = sum((x - sum(b) / nb) ** 2 for x in b) / (nb - 1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return Comparison("unpaired", min(na, nb), mean, mean, mean)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return Comparison("unpaired", min(na, nb), mean, mean - t_quantile(df) * se, mean + t_quantile(df) * se)


def compare(row: dict[int, float], reference: dict[int, float], *, pair: bool = True) -> Comparison | None:
    """``row`` against ``reference``, each {seed: value}: paired on common seeds (unless ``pair`` is False), else
    unpaired."""
    row = {s: v for s, v in row.items() if v is not None and not math.isnan(v)}
    reference = {s: v for s, v in reference.items() if v is not None and not math.isnan(v)}
    if not row or not reference:
        return None
    common = sorted(row.keys() & reference.keys())
    if common and pair:
        return paired([row[s] - reference[s] for s in common])
    return unpaired(list(row.values()), list(reference.values()))


def rank_groups(rows: Sequence[tuple[str, float, float | None, float | None]]) -> dict[str, int]:
    """Rank groups of one ratio's rows, each ``(label, mean difference to Random, low, high)`` (Random itself is
    ``(label, 0, 0, 0)``; a row without an interval has ``None`` bounds and gets no group).

    The rule: sort by mean, best first; the best row not yet ranked opens the next group, and every unranked row
    whose interval overlaps that row's joins it. Rows in one group are not told apart at this table's resolution;
    overlapping 95 % intervals are a conservative reading (two means can differ significantly while their
    intervals overlap a little), so a separate group is a real difference and a shared one may still hide one."""
    ranked = sorted((r for r in rows if r[2] is not None and r[3] is not None), key=lambda r: -r[1])
    groups: dict[str, int] = {}
    group = 0
    for label, _, low, high in ranked:
        if label in groups:
            continue
        group += 1
        groups[label] = group
        for other, _, olow, ohigh in ranked:
            if other not in groups and olow <= high and low <= ohigh:  # type: ignore[operator]
                groups[other] = group
    return groups
