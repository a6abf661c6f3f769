"""The ratio-sweep figure (like the DCOD paper's): mAP and AP50 against the condensation ratio, one line per
method with a band of ± one std over seeds, the full-data result as a dashed line."""

from __future__ import annotations

from pathlib import Path

from dcbench.leaderboard.tables import Table


def plot_ratio_sweep(table: Table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = table.summary
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, metric in zip(axes, ("mAP", "AP50")):
        for label in dict.fromkeys(s.loc[~s["full"], "label"]):
            rows = s[(s["label"] == label) & s[f"{metric}_mean"].notna()].sort_values("ratio")
            if rows.empty:
                continue
            x = rows["ratio"] * 100
            mean, std = rows[f"{metric}_mean"].astype(float), rows[f"{metric}_std"].astype(float)
            (line,) = ax.plot(x, mean, marker="o", label=label)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
        for _, row in s[s["full"]].iterrows():
            if row[f"{metric}_mean"] == row[f"{metric}_mean"]:  # not NaN (undefined)
                ax.axhline(row[f"{metric}_mean"], color="black", linestyle="--", linewidth=1,
                           label=f"full train set ({row['budget']} img)")
        ax.set_xlabel("ratio (% of the train set)")
        ax.set_ylabel(f"{metric} (COCO, 0-100)")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(table.title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
