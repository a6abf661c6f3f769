"""``dcbench leaderboard RESULTS --latex DIR``: each table as a LaTeX booktabs table, shaped like the DCOD paper's
and ready to ``\\input`` (the preamble needs ``\\usepackage{booktabs}``).

Rows are methods; columns are the ratios as column groups, each with mAP and AP50 as mean ± sample std over seeds
(the other metrics are in the CSV). The best mean of each column is bold; a mAP significantly above Random's at
the same ratio (the paired 95 % interval excludes 0, as ▲ in the Markdown table) gets a dagger, one below it a
double dagger, explained in a note under the table. The full train set spans the columns below a rule.

Made from the same rows as the CSV (:func:`summarise`), and like every table, a pure function of the result files.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dcbench.io import atomic_write_text, writable_dir
from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.tables import Table, summarise
from dcbench.results import DriftCheck

log = logging.getLogger(__name__)

SHOWN = ("mAP", "AP50")  # per ratio, as the paper's main tables; all six are in the CSV and the Markdown table
WIN, LOSS = r"$^{\dagger}$", r"$^{\ddagger}$"

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "[": "{[}",  # never read as the optional argument of a preceding \\
    "]": "{]}",
    '"': "{''}",
    "·": r"\textperiodcentered{}",
    "±": r"$\pm$",
    "–": "--",
    "Δ": r"$\Delta$",
}


def escape(text: str) -> str:
    """``text`` typeset as it reads: LaTeX's special characters (``_``, ``%``, ``&``, ...) escaped."""
    return "".join(_SPECIAL.get(c, c) for c in str(text))


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


NO_RATIO = -1.0  # a set scored with no train set to take a ratio against (``dcbench eval`` without --train)


def _pct(ratio: float) -> str:
    return "no ratio" if ratio == NO_RATIO else f"{ratio * 100:g}\\,\\%"


def _best(s: pd.DataFrame, ratios: list[float], metrics: Sequence[str]) -> dict[tuple[float, str], float]:
    """The best mean (as printed, two decimals) of each (ratio, metric) column, where two or more rows compete."""
    best = {}
    for r in ratios:
        rows = s[(s["ratio"] == r) & ~s["full"]]
        for m in metrics:
            values = [round(float(v), 2) for v in rows[f"{m}_mean"] if not _missing(v)]
            if len(values) >= 2:
                best[(r, m)] = max(values)
    return best


def _value(row, metric: str, bold: bool) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if _missing(mean):
        return "--"
    text = f"\\textbf{{{mean:.2f}}}" if bold else f"{mean:.2f}"
    if row["n_seeds"] >= 2 and not _missing(std):
        text += f"\\,$\\pm$\\,{std:.2f}"
    significant = row.get("vs_random_significant")
    if metric == "mAP" and not _missing(significant) and bool(significant):
        text += WIN if row["vs_random_mean"] > 0 else LOSS
    return text


def _method_rows(s: pd.DataFrame, ratios: list[float], metrics: Sequence[str]) -> list[str]:
    best = _best(s, ratios, metrics)
    lines = []
    for label in dict.fromkeys(s.loc[~s["full"], "label"]):
        cells = [escape(label)]
        for r in ratios:
            hit = s[(s["label"] == label) & (s["ratio"] == r) & ~s["full"]]
            if hit.empty:
                cells += ["--"] * len(metrics)
                continue
            row = hit.iloc[0]
            for m in metrics:
                bold = not _missing(row[f"{m}_mean"]) and round(float(row[f"{m}_mean"]), 2) == best.get((r, m))
                cells.append(_value(row, m, bold))
        lines.append(" & ".join(cells) + r" \\")
    return lines


def _full_rows(s: pd.DataFrame, metrics: Sequence[str], span: int) -> list[str]:
    """The full train set, spanning the ratio columns (its numbers do not belong to a ratio)."""
    lines = []
    for _, row in s[s["full"]].iterrows():
        values = ", ".join(f"{m} {_value(row, m, False)}" for m in metrics)
        lines.append(f"Full train set ({int(row['budget'])} img) & \\multicolumn{{{span}}}{{c}}{{{values}}} \\\\")
    return lines


def _label(slug: str) -> str:
    return "tab:dcbench:" + re.sub(r"[^A-Za-z0-9.:-]+", "-", slug)


def to_latex(table: Table, metrics: Sequence[str] = SHOWN) -> str:
    s = table.summary.assign(ratio=table.summary["ratio"].fillna(NO_RATIO))  # NaN never equals itself
    ratios = sorted(s.loc[~s["full"], "ratio"].unique())
    k = len(metrics)
    groups, rules = ["Method"], []
    for i, r in enumerate(ratios):
        budget = int(s.loc[(s["ratio"] == r) & ~s["full"], "budget"].iloc[0])
        groups.append(f"\\multicolumn{{{k}}}{{c}}{{{_pct(r)} ({budget} img)}}")
        rules.append(f"\\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}")
    seeds = sorted({int(x) for v in s["seeds"] for x in str(v).split()})
    lines = [
        "% Generated by `dcbench leaderboard --latex` from the result files; do not edit by hand.",
        "% Needs \\usepackage{booktabs} in the preamble.",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{escape(table.title.replace(' · ', ', '))}: mean $\\pm$ sample std over seeds {', '.join(map(str, seeds))} "
        f"(COCO AP, 0--100).}}",
        f"\\label{{{_label(table.slug)}}}",
        f"\\begin{{tabular}}{{l{' '.join('c' * k for _ in ratios)}}}",
        "\\toprule",
        " & ".join(groups) + " \\\\",
        " ".join(rules),
        " & ".join(["", *(escape(m) for _ in ratios for m in metrics)]) + " \\\\",
        "\\midrule",
        *_method_rows(s, ratios, metrics),
    ]
    full = _full_rows(s, metrics, k * len(ratios))
    if full:
        lines += ["\\midrule", *full]
    lines += [
        "\\bottomrule",
        "\\end{tabular}",
        "",
        "\\smallskip",
        f"{{\\footnotesize A value without $\\pm$ is one seed. Bold: the best mean of each column. {WIN}\\,/\\,{LOSS}: mAP significantly above\\,/\\,"
        "below Random's at the same ratio (the paired 95\\,\\% interval of the per-seed differences excludes 0).\\par}",
        "\\end{table}",
    ]
    return "\n".join(lines) + "\n"


def write_latex(results: Path, out: Path, drift: DriftCheck | None = None) -> list[Path]:
    """``<slug>.tex`` for every table of ``results`` in ``out`` (each written atomically; other files there are
    left alone, so ``out`` may be a paper's own folder). ``drift`` marks stale rows."""
    tables = summarise(load_results(results, drift))
    out = writable_dir(out, what="LaTeX folder")
    written = [atomic_write_text(out / f"{t.slug}.tex", to_latex(t)) for t in tables]
    log.debug("%d LaTeX tables in %s", len(written), out)
    return written
