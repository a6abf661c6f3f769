"""Leaderboard tables shaped like the DCOD paper's: one per (dataset, evaluation detector, protocol); rows are
methods, columns are ratios x (mAP, AP50, AP75, APs, APm, APl) as mean ± std over seeds, the mAP delta against
Random, and the full-data row.

Output is a pure function of the result files: rows and columns are sorted, numbers are rounded to two decimals
(the evaluator's 0-100 scale), and nothing time- or machine-dependent is written, so CI can regenerate a
checked-in table and compare bytes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from dcbench.evaluation.coco_eval import METRICS
from dcbench.leaderboard.collect import REFERENCE_METHOD, is_stale
from dcbench.leaderboard.stats import MIN_PAIRS, Comparison, compare, rank_groups, seeds_for
from dcbench.leaderboard.verdict import GLANCE_HEADING, glance
from dcbench.results import DISTILL, STORED, TEACHER, row_suffix

KEY = ("dataset", "eval_detector", "protocol")
# mAP: the paired half-width at the lowest ratio that the reference tables aim at (issue #15), so that a method a
# point or two better than Random is told apart; a table that misses it says how many seeds it would take
RESOLUTION_AIM = 1.5
SMOKE_NOTE = (
    "**These numbers measure nothing.** The smoke protocol trains for seconds to check that the pipeline runs; its "
    "students are barely trained, and equal scores are the norm. Use `quick` or `paper` to compare methods."
)


@dataclass
class Table:
    dataset: str
    eval_detector: str
    protocol: str
    summary: pd.DataFrame  # one row per (label, ratio): n, seeds, <metric>_mean, <metric>_std, delta_mAP
    protocol_text: str = ""  # the preset and its overrides, spelled out
    total_s: float = 0.0  # wall time the table's cells recorded, added up (teachers included)
    n_cells: int = 0
    fixed_sets: tuple[str, ...] = ()  # labels of rows that are one set whatever the seed (dcbench eval's)
    label_modes: tuple[str, ...] = ()  # the label modes other than stored that some row's students trained with
    stale: tuple[tuple[str, str], ...] = ()  # (method, its settings that changed since) where rows are stale
    timed_on: tuple[tuple[str | None, int], ...] = ()  # (machine as collect.timed_on says it, cells), most first
    # (label, ratio, mean number of test classes without a box in the row's sets) where that is not 0; the number
    # of test classes; how many of them have no box in the whole train split
    missing_classes: tuple[tuple[str, float, float], ...] = ()
    test_classes: int = 0
    missing_in_train: int = 0
    metrics: tuple[str, ...] = METRICS  # the columns shown: COCO's six AP by default, all twelve with AR

    @property
    def timed_on_text(self) -> str:
        """Which machines the compute figures come from, when any result says (times from different machines do
        not compare: a CPU's speed varies several-fold between machines of the same model name)."""
        if not any(machine for machine, _ in self.timed_on):
            return ""
        parts = [f"{machine or 'not recorded'} ({_count(n, 'cell')})" for machine, n in self.timed_on]
        return f"Timed on: {'; '.join(parts)}."

    @property
    def slug(self) -> str:
        return "__".join(
            re.sub(r"[^A-Za-z0-9.=+-]+", "_", p).strip("_") for p in (self.dataset, self.eval_detector, self.protocol)
        )

    @property
    def title(self) -> str:
        spelled = f" ({self.protocol_text})" if self.protocol_text and self.protocol_text != self.protocol else ""
        return f"{self.dataset} · evaluated with {self.eval_detector} · protocol {self.protocol}{spelled}"

    @property
    def coverage(self) -> str:
        """What the table holds so far, for the index: a table being filled in a sitting at a time says so."""
        s = self.summary
        ratios = sorted(s.loc[~s["full"] & s["ratio"].notna(), "ratio"].unique())
        rows = s.loc[~s["full"], "label"].nunique()
        at = f" at {', '.join(_pct(r) for r in ratios)}" if ratios else ""
        seeds = _seed_list(s)
        return f"{_count(self.n_cells, 'cell')}, {_count(rows, 'row')}{at}, seed{'s' * (' ' in seeds)} {seeds}"


def _mean_std(values: pd.Series) -> tuple[float | None, float | None]:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0  # sample std
    return mean, std


def _row_order(labels: list[str], full: dict[str, bool], methods: dict[str, str], setting: dict[str, str]) -> list[str]:
    """Rows on stored labels first, then each other label setting; within each, Random first (the reference of
    the rows below it), everything else alphabetical; the full-data row last."""
    return sorted(
        labels, key=lambda lb: (full[lb], setting[lb] != STORED, setting[lb], methods[lb] != REFERENCE_METHOD, lb)
    )


def _reference_key(row: dict, setting: dict[str, str], eval_detector: str) -> tuple:
    """Which Random row ``row`` is compared with: Random at the same ratio, trained on labels of the same setting.
    On stored labels that is the table's own Random (a teacher-free set, its ``condensed_with`` the evaluation
    detector); on teacher labels, Random relabelled by the same detector's teacher as the row."""
    mode = setting[row["label"]]
    return row["ratio"], mode, eval_detector if mode == STORED else row["condensed_with"]


def _references(rows: list[dict], setting: dict[str, str], eval_detector: str) -> dict[tuple, dict]:
    """The Random rows, by the :func:`_reference_key` of the rows they are the reference of."""
    return {
        _reference_key(r, setting, eval_detector): r
        for r in rows
        if r["method"] == REFERENCE_METHOD
        and not r["full"]
        and (setting[r["label"]] != STORED or r["condensed_with"] == eval_detector)
    }


def summarise(frame: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> list[Table]:
    tables = []
    for key, group in sorted(frame.groupby(list(KEY), sort=True), key=lambda kv: kv[0]):
        rows = []
        # dropna=False: a set scored without a train set has no ratio (NaN) and keeps its row
        for (label, ratio), cells in group.groupby(["label", "ratio"], sort=True, dropna=False):
            row = {
                "label": label,
                "method": cells["method"].iloc[0],
                "variant": cells["variant"].iloc[0],
                "condensed_with": cells["condensed_with"].iloc[0],
                "full": bool(cells["full"].iloc[0]),
                "ratio": float(ratio),
                "budget": int(cells["budget"].iloc[0]),
                "n_seeds": len(cells),
                "seeds": " ".join(str(s) for s in sorted(cells["seed"])),
            }
            for m in metrics:
                row[f"{m}_mean"], row[f"{m}_std"] = _mean_std(cells[m] if m in cells else pd.Series(dtype=float))
            for c in ("condense_s", "student_s", "teacher_s", "boxes_per_image"):
                row[f"{c}_mean"] = _mean_std(cells[c])[0] if c in cells else None
            row["device"] = " ".join(sorted({str(d) for d in cells.get("device", []) if isinstance(d, str)}))
            rows.append(row)
        summary = pd.DataFrame(rows)
        # each row's label setting (stored or teacher labels), kept out of the CSV: the label already says it
        setting = dict(zip(group["label"], group["labels"])) if "labels" in group else {}
        setting = {r["label"]: setting.get(r["label"], STORED) for r in rows}
        references = _references(rows, setting, key[1])
        summary["delta_mAP_vs_random"] = [_delta(r, references.get(_reference_key(r, setting, key[1]))) for r in rows]
        comparisons = _comparisons(group, rows, references, setting, key[1])
        for column in Comparison("", 0, 0.0).as_columns():
            summary[column] = [c.as_columns()[column] if c else None for c in comparisons]
        summary["rank_group"] = _rank_groups(summary, setting)
        order = _row_order(
            list(dict.fromkeys(summary["label"])),
            dict(zip(summary["label"], summary["full"])),
            dict(zip(summary["label"], summary["method"])),
            setting,
        )
        summary["_row"] = summary["label"].map({lb: i for i, lb in enumerate(order)})
        summary = summary.sort_values(["_row", "ratio"]).drop(columns="_row").reset_index(drop=True)
        total = group["total_s"].dropna().astype(float).sum() if "total_s" in group else 0.0
        tables.append(
            Table(
                key[0],
                key[1],
                key[2],
                summary,
                protocol_text=str(group["protocol_text"].iloc[0]),
                total_s=float(total),
                n_cells=len(group),
                fixed_sets=tuple(sorted(set(group.loc[group["fixed_set"], "label"]))) if "fixed_set" in group else (),
                label_modes=tuple(sorted(set(setting.values()) - {STORED})),
                stale=_stale_rows(group),
                timed_on=_timed_on(group),
                **_missing_classes(group),
                metrics=metrics,
            )
        )
    return tables


def _rank_groups(summary: pd.DataFrame, setting: dict[str, str]) -> list[int | None]:
    """Each row's rank group among the rows of its ratio trained on the stored boxes (stats.rank_groups): Random
    sits at a difference of 0 with no width. Rows without an interval, full-data rows and relabelled rows (compared
    with another Random, so their differences are not on one scale with the others') get none."""
    groups: dict[tuple[str, float], int] = {}
    stored = summary["label"].map(setting) == STORED
    for ratio, rows in summary[~summary["full"] & stored].groupby("ratio", dropna=False):
        entries = [entry for _, r in rows.iterrows() if (entry := _interval(r)) is not None]
        groups.update({(label, ratio): g for label, g in rank_groups(entries).items()})
    return [groups.get((label, ratio)) for label, ratio in zip(summary["label"], summary["ratio"])]


def _interval(r: pd.Series) -> tuple[str, float, float, float] | None:
    if r["method"] == REFERENCE_METHOD and _missing(r["vs_random_mean"]):
        return (r["label"], 0.0, 0.0, 0.0)
    if _missing(r["vs_random_low"]) or _missing(r["vs_random_high"]):
        return None
    return (r["label"], float(r["vs_random_mean"]), float(r["vs_random_low"]), float(r["vs_random_high"]))


def _missing_classes(group: pd.DataFrame) -> dict:
    """Where a row's students saw no box of some test classes (results before these columns: nothing)."""
    if "missing_in_set" not in group or group["missing_in_set"].isna().all():
        return {}
    known = group[group["missing_in_set"].notna()]
    means = known.groupby(["label", "ratio"], dropna=False)["missing_in_set"].mean()
    return {
        "missing_classes": tuple((str(lb), float(r), float(m)) for (lb, r), m in means.items() if m > 0),
        "test_classes": int(known["test_classes"].max()),
        "missing_in_train": int(known["missing_in_train"].max()),
    }


def _missing_classes_note(table: Table) -> str:
    rows = "; ".join(
        f"{label}{'' if math.isnan(ratio) else ' at ' + _pct(ratio)}: {mean:.1f}"
        for label, ratio, mean in table.missing_classes
    )
    in_train = (
        f" {table.missing_in_train} of them have no box in the whole train split." if table.missing_in_train else ""
    )
    return (
        f"Test classes the students saw no box of (mean over seeds, of {table.test_classes} test classes): {rows}."
        f"{in_train} Such a class scores 0 AP and is averaged into the mAP (each result's `classes` names them; "
        f"`metrics.per_class_AP` has every class's AP)."
    )


def _timed_on(group: pd.DataFrame) -> tuple[tuple[str | None, int], ...]:
    if "_timed_on" not in group:
        return ()
    return tuple(Counter(m if isinstance(m, str) else None for m in group["_timed_on"]).most_common())


def _delta(row: dict, reference: dict | None) -> float | None:
    """The difference of the mean mAPs to the reference row (None for the full-data row or without one)."""
    if row["full"] or reference is None or reference["mAP_mean"] is None or row["mAP_mean"] is None:
        return None
    return row["mAP_mean"] - reference["mAP_mean"]


def _comparisons(
    group: pd.DataFrame, rows: list[dict], references: dict[tuple, dict], setting: dict[str, str], eval_detector: str
) -> list[Comparison | None]:
    """Each row's mAP against its Random's (same ratio and label setting), seed by seed (Random itself and
    full-data rows: None)."""

    def per_seed(label, ratio) -> dict[int, float]:
        cells = group[(group["label"] == label) & (group["ratio"] == ratio)]
        return {int(seed): float(v) for seed, v in zip(cells["seed"], cells["mAP"]) if not _missing(v)}

    fixed = set(group.loc[group["fixed_set"], "label"]) if "fixed_set" in group else set()
    out: list[Comparison | None] = []
    for r in rows:
        found = references.get(_reference_key(r, setting, eval_detector))
        ref = None if found is None else found["label"]
        if r["full"] or ref is None or ref == r["label"]:
            out.append(None)
            continue
        pair = r["label"] not in fixed
        out.append(compare(per_seed(r["label"], r["ratio"]), per_seed(ref, r["ratio"]), pair=pair))
    return out


def _stale_rows(group: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    if "stale" not in group:
        return ()
    stale = group[group["stale"].fillna("") != ""]
    changed = {
        m: sorted({k for keys in cells for k in keys.split(", ")}) for m, cells in stale.groupby("method")["stale"]
    }
    return tuple((method, ", ".join(keys)) for method, keys in sorted(changed.items()))


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))  # pandas turns None into NaN in number columns


def _fmt(mean: float | None, std: float | None, n: int) -> str:
    if _missing(mean):
        return "–"
    return f"{mean:.2f}" if n < 2 else f"{mean:.2f} ± {std:.2f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _seed_list(s: pd.DataFrame) -> str:
    """Every seed any row of the table ran, as the ``seeds`` column writes them ("0 1 2")."""
    return " ".join(str(x) for x in sorted({int(x) for v in s["seeds"] for x in v.split()}))


def _pct(ratio: float) -> str:
    return "–" if _missing(ratio) else f"{ratio * 100:g} %"  # no ratio: a set scored without a train set


def to_csv(table: Table) -> str:
    out = table.summary.copy()
    out.insert(0, "protocol", table.protocol)
    out.insert(0, "eval_detector", table.eval_detector)
    out.insert(0, "dataset", table.dataset)
    return out.to_csv(index=False, float_format="%.4f", lineterminator="\n")


def to_markdown(table: Table) -> str:
    s = table.summary
    ratioless = s["ratio"].isna()
    ratios = sorted(s.loc[~s["full"] & ~ratioless, "ratio"].unique())
    lines = [f"## {table.title}"]
    if table.protocol.split("+")[0] == "smoke":
        lines += ["", SMOKE_NOTE]
    if ratios or not ratioless.any():  # a table of sets scored with no ratio at all has no ratio columns to show
        lines += ["", *_ratio_table(s[~ratioless], ratios, table.metrics)]
        verdicts = glance(s[~ratioless])
        if verdicts:
            lines += ["", GLANCE_HEADING, "", *(f"- {v}" for v in verdicts)]
    full = s[s["full"]]
    if len(full):
        lines += [
            "",
            "Full train set (the upper bound):",
            "",
            "| train images | seeds | " + " | ".join(table.metrics) + " |",
            "|" + "---|" * (2 + len(table.metrics)),
        ]
        for _, row in full.iterrows():
            lines.append(
                f"| {row['budget']} | {row['seeds']} | "
                + " | ".join(_fmt(row[f"{m}_mean"], row[f"{m}_std"], row["n_seeds"]) for m in table.metrics)
                + " |"
            )
    lines += _ratioless_lines(s[ratioless], table.metrics)
    lines += [
        "",
        f"mean ± sample std over seeds {_seed_list(s).replace(' ', ', ')} (a row run on fewer names its seeds); "
        "COCO AP on a 0-100 scale; – means "
        f"undefined (no objects of that size) or not run. ΔmAP vs Random: the mean of the per-seed differences "
        f"to Random at the same ratio and seed, with its 95 % t interval over those seeds (n = paired seeds; "
        f'{MIN_PAIRS} or more needed for an interval; "unpaired": no seed in common, Welch\'s interval). '
        f"▲ / ▼: a win / loss significant at 5 % (the interval excludes 0). p: exact sign-flip test "
        f"(it cannot go below 2 / 2^n: 0.0625 with 5 seeds).",
        "",
    ]
    if set(table.fixed_sets) & set(s.loc[~ratioless, "label"]):  # only where they are compared with Random
        lines += [_FIXED_SETS_NOTE, ""]
    for mode in table.label_modes:  # only in tables that have such rows: the others stay as they were
        lines += [_LABEL_MODE_NOTES[mode], ""]
    if table.missing_classes:
        lines += [_missing_classes_note(table), ""]
    if table.stale:
        changed = "; ".join(f"{method}: {keys}" for method, keys in table.stale)
        lines += [
            f"Rows marked [stale] were made by an older version of their method, whose settings have changed since "
            f"({changed}): they are not the method as it runs now. `dcbench matrix` on their spec reruns them.",
            "",
        ]
    resolution = _resolution(s, ratios)
    if resolution:
        lines += [resolution, ""]
    return "\n".join(lines + _compute_lines(table))


def _ratio_table(s: pd.DataFrame, ratios: list[float], metrics: tuple[str, ...] = METRICS) -> list[str]:
    """The paper's table: a row per method, per ratio its metrics and its difference to Random."""
    header = ["method"]
    for r in ratios:
        budget = s.loc[(s["ratio"] == r) & ~s["full"], "budget"].iloc[0]
        header += [f"{_pct(r)} ({budget} img) {m}" for m in metrics] + [f"{_pct(r)} ΔmAP vs Random [95 % CI]"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table_seeds = _seed_list(s)
    for label in dict.fromkeys(s.loc[~s["full"], "label"]):
        cells = [label]
        for r in ratios:
            hit = s[(s["label"] == label) & (s["ratio"] == r)]
            if hit.empty:
                cells += ["–"] * (len(metrics) + 1)
                continue
            row = hit.iloc[0]
            cells += [_fmt(row[f"{m}_mean"], row[f"{m}_std"], row["n_seeds"]) for m in metrics]
            if row["seeds"] != table_seeds:  # the footnote names the table's seeds; a row short of them says so
                cells[-len(metrics)] += f" (seed{'s' if row['n_seeds'] > 1 else ''} {row['seeds']})"
            cells.append(_delta_cell(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


_FIXED_SETS_NOTE = (
    "external:NAME rows are sets scored with `dcbench eval` (made elsewhere, or a condensed set evaluated on its "
    "own): one fixed set whose seed seeds only the student, so they are compared with Random unpaired (Welch's "
    "interval) even at seeds in common."
)


# each named by the suffix its rows carry (results.row_suffix), so a renamed mode cannot leave its note behind
_LABEL_MODE_NOTES = {
    TEACHER: (
        f"Rows marked{row_suffix(TEACHER, None)} trained their students on the Fetch teacher's boxes on the condensed images "
        "(`labels = teacher`; the score the boxes were kept at is shown when not 0.25): their ΔmAP is against Random "
        "trained on teacher labels the same way, so it shows what is left of a method's difference to Random once "
        "both students see the teacher's boxes."
    ),
    DISTILL: (
        f"Rows marked{row_suffix(DISTILL, None)} trained their students on the condensed set's own boxes plus PKD feature "
        "distillation from the frozen Fetch teacher (`labels = distill`, OD3's evaluation protocol): their ΔmAP is "
        "against Random's distilled student, so it shows what a method's images are worth when both students learn "
        "from the teacher too."
    ),
}


def _ratioless_lines(rows: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> list[str]:
    """Sets scored with no train set given (``dcbench eval`` without --train): no ratio, so a table of their own."""
    if rows.empty:
        return []
    lines = [
        "",
        "Sets scored with no train set to take a ratio against:",
        "",
        "| method | images | seeds | " + " | ".join(metrics) + " |",
        "|" + "---|" * (3 + len(metrics)),
    ]
    for _, row in rows.iterrows():
        shown = " | ".join(_fmt(row[f"{m}_mean"], row[f"{m}_std"], row["n_seeds"]) for m in metrics)
        lines.append(f"| {row['label']} | {row['budget']} | {row['seeds']} | {shown} |")
    return lines


def _seconds(value) -> str:
    return "–" if _missing(value) else f"{value:.0f}"


def _compute_lines(table: Table) -> list[str]:
    """What each row cost, so a reader sees the price of a score as well as the score."""
    s = table.summary
    if "condense_s_mean" not in s or s["condense_s_mean"].isna().all() and s["student_s_mean"].isna().all():
        return []
    lines = [
        "Compute, mean seconds per cell (condense: making the set, teachers excluded; student: training the "
        "evaluated detector, for the full train set its teacher, for a distilled student its teacher's forward passes "
        "included; teacher: training the Fetch teacher the row needs for its method or its labels, once per seed and "
        "shared by the rows that need it; boxes / image: the labelled objects per image the student trained on):",
        "",
        "| method | ratio | condense (s) | student (s) | teacher (s) | boxes / image | device |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in s.iterrows():
        cond, stud, teach = (_seconds(row.get(f"{c}_mean")) for c in ("condense_s", "student_s", "teacher_s"))
        boxes = "–" if _missing(row.get("boxes_per_image_mean")) else f"{row['boxes_per_image_mean']:.1f}"
        device = row["device"] or "–"
        lines.append(f"| {row['label']} | {_pct(row['ratio'])} | {cond} | {stud} | {teach} | {boxes} | {device} |")
    total = f"The {table.n_cells} cells of this table took {table.total_s / 3600:.2f} h of wall time in all."
    lines += ["", f"{total} {table.timed_on_text}".rstrip(), ""]
    return lines


def _delta_cell(row) -> str:
    kind = row.get("vs_random_kind")
    if _missing(kind) or not kind:
        delta = row["delta_mAP_vs_random"]
        if row["method"] == REFERENCE_METHOD and not _missing(delta) and delta == 0:
            return "(reference)"
        return "–" if _missing(delta) else f"{delta:+.2f}"
    mean, n = row["vs_random_mean"], int(row["vs_random_n"])
    if kind == "too few":
        return f"{mean:+.2f} (n={n}: no interval)"
    text = f"{mean:+.2f} [{row['vs_random_low']:+.2f}, {row['vs_random_high']:+.2f}]"
    marker = row["vs_random_marker"] or ""
    if kind == "unpaired":
        return f"{text}{marker} unpaired"
    p = row["vs_random_p_signflip"]
    return f"{text}{marker} n={n}" + ("" if _missing(p) else f", p={p:.2g}")


def _resolution(s: pd.DataFrame, ratios: list[float]) -> str:
    """The table's resolution: how wide the paired intervals are at the lowest ratio."""
    if not ratios or "vs_random_kind" not in s:
        return ""
    # a stale row is no longer the method as it runs: its spread says nothing about the table as it now reads
    current = ~s["label"].map(is_stale)
    lowest = s[(s["ratio"] == ratios[0]) & (s["vs_random_kind"] == "paired") & current]
    if lowest.empty:
        return ""
    rows = lowest.sort_values("vs_random_half_width")
    median = rows.iloc[len(rows) // 2]
    half = float(median["vs_random_half_width"])
    narrowest = f"{rows['label'].iloc[0]}, ±{float(rows['vs_random_half_width'].iloc[0]):.2f}"
    line = (
        f"Resolution at {_pct(ratios[0])}: the paired 95 % intervals' half-width is {half:.2f} mAP "
        f"(median of {len(rows)} rows{' not stale' if not current.all() else ''}; narrowest {narrowest}; "
        f"largest {float(rows['vs_random_half_width'].iloc[-1]):.2f}): differences smaller than that are ties."
    )
    if half <= RESOLUTION_AIM:
        return line + f" That meets the reference tables' aim of ±{RESOLUTION_AIM:g}."
    need = seeds_for(half, int(median["vs_random_n"]), RESOLUTION_AIM)
    more = f"about {need} paired seeds" if need else "more than 1000 paired seeds"
    return line + f" The aim of ±{RESOLUTION_AIM:g} would take {more} at the median row's spread."
