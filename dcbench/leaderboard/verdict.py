"""A table's answer in words, a line per ratio: which row leads, who beats or loses to Random with significance,
and that the rest are ties. A reader of a ten-row table with intervals should not have to work that out, nor be
tempted to call the highest mean a win when its interval holds zero."""

from __future__ import annotations

import pandas as pd

from dcbench.leaderboard.collect import is_stale

GLANCE_HEADING = "At a glance (rows not stale; significant means at 5 %, as the ▲ / ▼ markers):"


def glance(s: pd.DataFrame) -> list[str]:
    """A sentence per ratio of a table's summary, over the rows that are the methods as they run now (stale rows
    are left out)."""
    seed_list = " ".join(str(x) for x in sorted({int(x) for v in s["seeds"] for x in str(v).split()}))
    current = s[~s["full"] & s["mAP_mean"].notna() & ~s["label"].map(is_stale)]
    out = []
    for ratio in sorted(current["ratio"].dropna().unique()):
        rows = current[current["ratio"] == ratio]
        if len(rows):
            out.append(f"At {ratio * 100:g} % ({int(rows['budget'].iloc[0])} img): {_verdict(rows, seed_list)}")
    return out


TIE = 1e-9  # mean mAPs closer than this are the same number (untrained students give identical boxes)


def _verdict(rows: pd.DataFrame, seed_list: str) -> str:
    means = rows["mAP_mean"].astype(float)
    lead = rows.loc[means.idxmax()]
    tied = rows.loc[(means - float(lead["mAP_mean"])).abs() < TIE, "label"]
    if len(tied) > 1:
        text = f"the highest mean mAP, {float(lead['mAP_mean']):.2f}, is shared by {_names(tied)}: a tie, not a win"
        return text + _groups(rows) + "."
    fewer = "" if lead["seeds"] == seed_list else f", seeds {lead['seeds']}"
    text = f"the highest mean mAP is {lead['label']}'s, {float(lead['mAP_mean']):.2f}{fewer}"
    if _has(lead, "vs_random_mean") and lead.get("vs_random_kind") in ("paired", "unpaired"):
        low, high = float(lead["vs_random_low"]), float(lead["vs_random_high"])
        marker = lead.get("vs_random_marker") or ""
        shown = {"▲": "significantly above", "▼": "significantly below"}.get(marker, "not significant")
        text += f" ({float(lead['vs_random_mean']):+.2f} on Random, [{low:+.2f}, {high:+.2f}]: {shown})"
    elif _has(lead, "vs_random_mean"):
        text += f" ({float(lead['vs_random_mean']):+.2f} on Random, too few paired seeds for an interval)"
    markers = rows["vs_random_marker"].fillna("")  # summarise gives every row the comparison's columns
    above, below = rows.loc[markers == "▲", "label"], rows.loc[markers == "▼", "label"]
    text += f"; significantly above Random: {_names(above)}; significantly below: {_names(below)}"
    ties = rows.loc[rows["vs_random_kind"].isin(["paired", "unpaired"]) & (markers == ""), "label"]
    if len(ties):
        text += f"; tied with Random at this table's resolution: {_names(ties)}"
    return text + _groups(rows) + "."


def _groups(rows: pd.DataFrame) -> str:
    """The rank groups (stats.rank_groups), when there are two or more: one group says nothing the rest does not."""
    if "rank_group" not in rows or rows["rank_group"].dropna().nunique() < 2:
        return ""
    ranked = rows[rows["rank_group"].notna()].sort_values(["rank_group", "mAP_mean"], ascending=[True, False])
    parts = [f"{int(g)}: {_names(r['label'])}" for g, r in ranked.groupby("rank_group", sort=True)]
    return f"; rank groups (rows whose ΔmAP intervals overlap share one): {'; '.join(parts)}"


def _names(labels: pd.Series) -> str:
    return ", ".join(labels) if len(labels) else "none"


def _has(row: pd.Series, column: str) -> bool:
    value = row.get(column)
    return value is not None and value == value  # not NaN
