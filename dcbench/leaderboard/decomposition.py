"""The label decomposition of a table: each method under stored, teacher and distilled labels, against Random in
the same mode, and how much of its score the labels and the distillation account for (issue #32;
``docs/label-decomposition.md`` defines every figure).

For each method M and mode m, paired by seed: ``ΔmAP(M, m) = mAP(M, m) - mAP(Random, m)``, with its 95 % t interval.
Per method, the label-robust score in DD-Ranking's spirit (Li et al. 2025), with mAP for accuracy (0-1):

* ``HLR = mAP(full train set, stored) - mAP(M, stored)``: what the hard labels on the condensed images lose to the
  whole train set (lower is better);
* ``IOR = mAP(M, distill) - mAP(Random, distill)``: what the images add over as many real images when both are
  evaluated the method's own way, with a teacher's guidance (higher is better);
* ``LRS = (e^a - e^-1) / (e - e^-1)`` with ``a = (IOR - HLR) / 2``: 1 when a set matches the full train set with
  hard labels and beats Random by everything under distillation, about 0.27 when it adds nothing either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from dcbench.errors import ConfigError
from dcbench.leaderboard.stats import Comparison, compare

MODES = ("stored", "teacher", "distill")
REFERENCE = "random"


@dataclass(frozen=True)
class Cell:
    mean: float | None
    n: int
    vs_random: Comparison | None


def _per_seed(frame: pd.DataFrame, method: str, mode: str, ratio: float) -> dict[int, float]:
    rows = frame[
        (frame["method"] == method)
        & (frame["variant"] == "")
        & (frame["labels"] == mode)
        & (frame["ratio"] == ratio)
        & ~frame["full"]
    ]
    _one_per_seed(rows, f"{method} with {mode} labels")
    return {int(s): float(v) for s, v in zip(rows["seed"], rows["mAP"]) if v is not None and not math.isnan(v)}


def _one_per_seed(rows: pd.DataFrame, what: str) -> None:
    """A decomposition is of one table: two results of a row at one seed (another evaluation detector or
    condensing detector in the same folder) would silently replace each other, so they are refused instead."""
    twice = rows[rows["seed"].duplicated(keep=False)]
    if len(twice):
        cells = ", ".join(sorted(twice["cell"])[:2])
        raise ConfigError(f"label decomposition: {what} has two results at one seed ({cells}); keep one table")


def _full(frame: pd.DataFrame) -> dict[int, float]:
    rows = frame[frame["full"]]
    _one_per_seed(rows, "the full train set")
    return {int(s): float(v) for s, v in zip(rows["seed"], rows["mAP"]) if v is not None and not math.isnan(v)}


def _mean(values: dict[int, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None


def lrs(hlr: float, ior: float) -> float:
    """DD-Ranking's label-robust score of a hard-label recovery and an improvement over random, both in 0-1."""
    a = (ior - hlr) / 2
    return (math.exp(a) - math.exp(-1)) / (math.e - math.exp(-1))


def decompose(frame: pd.DataFrame, ratio: float, methods: tuple[str, ...]) -> dict:
    """{method: {mode: Cell}, "scores": {method: {...}}, "stale": {...}} for one table's frame
    (collect.load_results) at ``ratio``. Stale results (made by an older version of their method) are left out and
    counted: mixed with current ones they would pair another method's seeds with this one's."""
    frame = pairable(frame)
    stale = _stale_counts(frame, ratio)
    frame = frame[frame["stale"] == ""]
    cells: dict[str, dict[str, Cell]] = {}
    for method in (REFERENCE, *methods):
        cells[method] = {}
        for mode in MODES:
            values = _per_seed(frame, method, mode, ratio)
            reference = _per_seed(frame, REFERENCE, mode, ratio)
            versus = None if method == REFERENCE else compare(values, reference)
            cells[method][mode] = Cell(_mean(values), len(values), versus)
    full = _full(frame)
    scores = {}
    for method in methods:
        stored = _per_seed(frame, method, "stored", ratio)
        common = sorted(full.keys() & stored.keys())
        versus = cells[method]["distill"].vs_random
        score: dict[str, float | Comparison | None] = {
            "teacher_gain": compare(_per_seed(frame, method, "teacher", ratio), stored),
            "distill_gain": compare(_per_seed(frame, method, "distill", ratio), stored),
            "HLR": sum(full[s] - stored[s] for s in common) / len(common) / 100 if common else None,
            "IOR": versus.mean / 100 if versus is not None else None,
        }
        hlr, ior = score["HLR"], score["IOR"]
        score["LRS"] = lrs(hlr, ior) if isinstance(hlr, float) and isinstance(ior, float) else None
        scores[method] = score
    return {"cells": cells, "scores": scores, "full": _mean(full), "stale": stale}


def _stale_counts(frame: pd.DataFrame, ratio: float) -> dict[str, int]:
    """How many stale results each (method, mode) of the table has at ``ratio``, by ``"method mode"``."""
    rows = frame[(frame["stale"] != "") & (frame["ratio"] == ratio) & ~frame["full"]]
    counts = rows.groupby(["method", "labels"]).size()
    return {f"{method} {mode}": int(n) for (method, mode), n in counts.items()}


def _interval(c: Comparison | None) -> str:
    if c is None:
        return "–"
    if c.low is None or c.high is None:
        return f"{c.mean:+.2f} (n={c.n}: no interval)"
    return f"{c.mean:+.2f} [{c.low:+.2f}, {c.high:+.2f}]{' ' + c.marker if c.marker else ''}"


def to_markdown(title: str, found: dict) -> list[str]:
    """The decomposition of one table as Markdown lines."""
    header = " | ".join(f"{m}: mAP / ΔmAP vs Random in the same mode" for m in MODES)
    lines = [f"### {title}", "", f"| method | {header} |", "|" + "---|" * (1 + len(MODES))]
    for method, by_mode in found["cells"].items():
        parts = []
        for mode in MODES:
            c = by_mode[mode]
            shown = "–" if c.mean is None else f"{c.mean:.2f} (n={c.n})"
            parts.append(shown + ("" if method == REFERENCE else f" / {_interval(c.vs_random)}"))
        lines.append(f"| {method} | " + " | ".join(parts) + " |")
    lines += ["", "| method | teacher labels vs stored | distillation vs stored | HLR | IOR | LRS |"]
    lines.append("|---|---|---|---|---|---|")
    for method, s in found["scores"].items():
        gains = f"{_interval(s['teacher_gain'])} | {_interval(s['distill_gain'])}"
        numbers = " | ".join("–" if s[k] is None else f"{s[k]:.4f}" for k in ("HLR", "IOR", "LRS"))
        lines.append(f"| {method} | {gains} | {numbers} |")
    full = found["full"]
    lines += ["", f"Full train set (stored labels): {'–' if full is None else f'{full:.2f}'} mAP."]
    if found.get("stale"):
        left = ", ".join(f"{row} ({n})" for row, n in sorted(found["stale"].items()))
        lines += [
            "",
            f"Left out as stale (made by an older version of their method; `dcbench matrix` on their spec reruns "
            f"them): {left}.",
        ]
    return lines


def pairable(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a decomposition pairs seed by seed with Random's: not fixed sets (``dcbench eval``'s external sets,
    whose seed seeds only the student), not sets condensed with another detector than the one evaluating them, not
    method variants (``-O`` options); the full-data rows are kept, for HLR."""
    own = frame["condensed_with"] == frame["eval_detector"]
    return frame[frame["full"] | (~frame["fixed_set"] & own & (frame["variant"] == ""))]


def decompose_tables(frame: pd.DataFrame, methods: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """The decomposition of every table of ``frame`` (collect.load_results: one per dataset, evaluation detector and
    protocol) at every ratio where Random and another method ran, as (title, :func:`decompose`'s result), of the
    :func:`pairable` rows. ``methods``: only these (default: every method found beside Random)."""
    found = []
    for (dataset, detector, protocol), table in pairable(frame).groupby(["dataset", "eval_detector", "protocol"]):
        rows = table[~table["full"]]
        for ratio in sorted(rows["ratio"].dropna().unique()):
            at = rows[rows["ratio"] == ratio]
            names = sorted(set(at["method"]) - {REFERENCE})
            chosen = tuple(m for m in names if not methods or m in methods)
            if REFERENCE not in set(at["method"]) or not chosen:
                continue
            budget = int(at["budget"].iloc[0])
            title = f"{dataset} · evaluated with {detector} · protocol {protocol} · {ratio * 100:g} % ({budget} images)"
            found.append((title, decompose(table, float(ratio), chosen)))
    return found
