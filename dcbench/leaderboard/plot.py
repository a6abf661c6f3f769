"""The ratio-sweep figure (like the DCOD paper's): mAP and AP50 against the condensation ratio, one line per
method with the 95 % interval of its mean over seeds as a band, the full-data result as a dashed line; and a third
panel with each method's paired mAP difference to Random and its 95 % interval around a zero line, so a reader sees
at a glance who beats Random, even where the lines of the first two panels lie on top of each other."""

from __future__ import annotations

from pathlib import Path

from dcbench.leaderboard.collect import is_stale
from dcbench.leaderboard.stats import MIN_PAIRS
from dcbench.leaderboard.tables import Table

COCO_RANGE = (0.0, 100.0)  # an interval of the mean can reach past what AP can be; the axes stop there


def plot_ratio_sweep(table: Table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = table.summary[table.summary["ratio"].notna()]  # a set with no ratio has no place on the ratio axis
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4), layout="constrained")
    styles = row_styles(dict.fromkeys(s.loc[~s["full"], "label"]))
    ratios = sorted(s.loc[~s["full"], "ratio"].unique())
    for ax, metric in zip(axes, ("mAP", "AP50")):
        _metric_panel(ax, s, metric, styles)
        ax.set_xticks([r * 100 for r in ratios], [f"{r * 100:g}" for r in ratios])
    _difference_panel(axes[2], s, styles)
    handles, names = axes[0].get_legend_handles_labels()
    if handles:  # a table of sets with no ratio has nothing on the ratio axis
        # beside the panels, not in one: with ten rows a legend inside covers the points it names
        fig.legend(handles, names, loc="outside right upper", fontsize=8)
    fig.suptitle(table.title, fontsize=10)
    from dcbench.io import atomic_write

    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None}))
    finally:
        plt.close(fig)


def _metric_panel(ax, s, metric: str, styles: dict) -> None:
    """One metric against the ratio: a line and interval band per row, the full train set as a dashed line."""
    from matplotlib.transforms import ScaledTranslation

    for i, label in enumerate(styles):
        rows = s[(s["label"] == label) & s[f"{metric}_mean"].notna()].sort_values("ratio")
        if rows.empty:
            continue
        x = rows["ratio"] * 100
        mean, half = rows[f"{metric}_mean"].astype(float), mean_half_width(rows, metric)
        if len(rows) == 1:  # one ratio (an ablation row, a table's first slice): a band there has no width
            dodge = ScaledTranslation((i - (len(styles) - 1) / 2) * 5 / 72, 0, ax.figure.dpi_scale_trans)
            ax.errorbar(
                x,
                mean,
                yerr=half,
                capsize=3,
                label=label,
                transform=ax.transData + dodge,
                **{**styles[label], "linestyle": "none"},
            )
            top, bottom = float(mean.iloc[0]) + half[0], float(mean.iloc[0]) - half[0]
            ax.update_datalim([(float(x.iloc[0]), top), (float(x.iloc[0]), bottom)])  # a shifted bar sets none
            continue
        ax.plot(x, mean, label=label, **styles[label])
        ax.fill_between(x, mean - half, mean + half, color=styles[label]["color"], alpha=0.15, linewidth=0)
    for _, row in s[s["full"]].iterrows():
        if row[f"{metric}_mean"] == row[f"{metric}_mean"]:  # not NaN (undefined)
            label = f"full train set ({row['budget']} img)"
            ax.axhline(row[f"{metric}_mean"], color="black", linestyle="--", linewidth=1, label=label)
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, COCO_RANGE[0] - 2), min(high, COCO_RANGE[1] + 2))
    ax.set_xlabel("ratio (% of the train set)")
    ax.set_ylabel(f"{metric} (COCO, 0-100)")
    ax.set_title(metric)
    ax.grid(alpha=0.3)


def row_styles(labels) -> dict[str, dict]:
    """A colour and marker per row; a stale row (an older version of its method) drawn hollow and dashed, so it
    is not read as the method as it runs now."""
    styles = {}
    for i, label in enumerate(labels):
        # ten colours, then the next marker: a table with the ablation rows has more rows than a palette has colours
        style = {"color": f"C{i % 10}", "marker": "osD^vP"[i // 10 % 6]}
        if is_stale(label):
            style.update(markerfacecolor="white", linestyle="--")
        styles[label] = style
    return styles


def mean_half_width(rows, metric: str) -> list[float]:
    """Half-width of the 95 % t interval of each row's mean over its seeds; none (0) under the tables' minimum of
    seeds, as the tables show none: with 2 seeds the t factor (12.7) draws a bar across the whole axis."""
    from dcbench.leaderboard.stats import t_quantile

    n = rows["n_seeds"].astype(int)
    std = rows[f"{metric}_std"].astype(float).fillna(0.0)
    return [0.0 if k < MIN_PAIRS else t_quantile(k - 1) * sd / k**0.5 for k, sd in zip(n, std)]


def _difference_panel(ax, s, styles: dict) -> None:
    """Paired mAP difference to Random per method and ratio, with 95 % intervals; methods side by side."""
    if "vs_random_mean" not in s:
        return
    rows = s[s["vs_random_mean"].notna() & ~s["full"]]
    labels = list(dict.fromkeys(rows["label"]))
    ratios = sorted(s.loc[~s["full"], "ratio"].unique())
    position = {r: i for i, r in enumerate(ratios)}
    width = 0.8 / max(1, len(labels))
    for k, label in enumerate(labels):
        mine = rows[rows["label"] == label]
        x = [position[r] - 0.4 + width * (k + 0.5) for r in mine["ratio"]]
        mean = mine["vs_random_mean"].astype(float)
        low = (mean - mine["vs_random_low"].astype(float)).fillna(0)
        high = (mine["vs_random_high"].astype(float) - mean).fillna(0)
        ax.errorbar(x, mean, yerr=[low, high], capsize=3, label=label, **{**styles[label], "linestyle": "none"})
    ax.axhline(0, color="black", linewidth=1)
    ax.set_xticks(range(len(ratios)), [f"{r * 100:g} %" for r in ratios])
    ax.set_xlabel("ratio (% of the train set)")
    ax.set_ylabel("mAP - Random's, same seed")
    ax.set_title("paired difference to Random (95 % interval)")
    ax.grid(alpha=0.3, axis="y")
