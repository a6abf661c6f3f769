"""One leaderboard table as an HTML page: a row per (method, ratio) as in the CSV, sortable and filterable, the
paired difference to Random drawn as an interval bar, the compute columns, and links to every cell's result.

The page is made from the very rows the CSV is written from (``Table.summary``, and the CSV text itself for the
values carried in ``data-csv``), so a number on the page cannot differ from the CSV's. Every number shown sits in
an element with ``data-col`` (the CSV column) and ``data-csv`` (the CSV's text), which the browser test compares.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from dcbench.evaluation.coco_eval import METRICS
from dcbench.leaderboard.collect import REFERENCE_METHOD
from dcbench.leaderboard.tables import Table, to_csv

log = logging.getLogger(__name__)


@dataclass
class RowLinks:
    """What a table row points at beyond its numbers: each seed's result page, its label modes, its options."""

    results: dict[int, str] = field(default_factory=dict)  # seed -> href of the cell's result page
    label_modes: list[str] = field(default_factory=list)
    options: list[dict] = field(default_factory=list)  # the distinct method options of the row's cells


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def csv_rows(table: Table) -> list[dict[str, str]]:
    """The table's CSV, parsed back: the strings the CSV file holds, row for row with ``table.summary``."""
    return list(csv.DictReader(io.StringIO(to_csv(table))))


def _num(row: Mapping, csv_row: Mapping[str, str], col: str, fmt: str) -> str:
    """A number shown on the page, tagged with its CSV column and the CSV's text for it."""
    value = row[col]
    if _missing(value):
        return "–"
    return f'<span class="n" data-col="{col}" data-csv="{escape(csv_row[col])}">{format(value, fmt)}</span>'


def _sort_attr(value) -> str:
    return "" if _missing(value) else f"{float(value):.6g}"


def _metric_cell(row: Mapping, csv_row: Mapping[str, str], metric: str) -> str:
    mean = _num(row, csv_row, f"{metric}_mean", ".2f")
    if row["n_seeds"] >= 2 and not _missing(row[f"{metric}_mean"]):
        mean += f'<span class="sd"> ± {_num(row, csv_row, f"{metric}_std", ".2f")}</span>'
    return f'<td class="num" data-sort="{_sort_attr(row[f"{metric}_mean"])}">{mean}</td>'


def _delta_text(row: Mapping, csv_row: Mapping[str, str]) -> str:
    """ΔmAP vs Random as the Markdown table words it, each number tagged with its CSV column."""
    kind = row.get("vs_random_kind")
    if _missing(kind) or not kind:
        delta = row["delta_mAP_vs_random"]
        if row["method"] == REFERENCE_METHOD and not _missing(delta) and delta == 0:
            return "(reference)"
        return _num(row, csv_row, "delta_mAP_vs_random", "+.2f")
    mean = _num(row, csv_row, "vs_random_mean", "+.2f")
    n = _num(row, csv_row, "vs_random_n", ".0f")
    if kind == "too few":
        return f"{mean} (n={n}: no interval)"
    text = f"{mean} [{_num(row, csv_row, 'vs_random_low', '+.2f')}, {_num(row, csv_row, 'vs_random_high', '+.2f')}]"
    marker = row.get("vs_random_marker") or ""
    text += f'<span class="marker">{escape(str(marker))}</span>' if not _missing(marker) else ""
    if kind == "unpaired":
        return f"{text} unpaired"
    p = "" if _missing(row["vs_random_p_signflip"]) else f", p={_num(row, csv_row, 'vs_random_p_signflip', '.2g')}"
    return f"{text} n={n}{p}"


def _delta_sort(row: Mapping) -> str:
    kind = row.get("vs_random_kind")
    return _sort_attr(row["delta_mAP_vs_random"] if _missing(kind) or not kind else row["vs_random_mean"])


@dataclass(frozen=True)
class Scale:
    """The x-axis every interval bar of a table shares, so bars compare across rows; zero is always on it."""

    low: float
    high: float
    width: int = 160

    def x(self, v: float) -> float:
        return round((v - self.low) / (self.high - self.low) * self.width, 1)


def interval_scale(table: Table) -> Scale:
    s = table.summary
    values = [0.0]
    for col in ("vs_random_low", "vs_random_high", "vs_random_mean"):
        if col in s:
            values += [float(v) for v in s[col] if not _missing(v)]
    low, high = min(values), max(values)
    pad = max(0.5, (high - low) * 0.06)
    return Scale(low - pad, high + pad)


def interval_svg(row: Mapping, scale: Scale) -> str:
    """The paired difference to Random as a bar: its 95 % interval, the mean as a dot, a line at zero. Green: a
    significant win, red: a significant loss, grey: a tie (the interval contains zero) or no interval."""
    if _missing(row.get("vs_random_mean")):
        return ""
    mean = float(row["vs_random_mean"])
    low, high = row.get("vs_random_low"), row.get("vs_random_high")
    sig = not _missing(row.get("vs_random_significant")) and bool(row.get("vs_random_significant"))
    cls = ("win" if mean > 0 else "loss") if sig else "tie"
    h, w, zero = 16, scale.width, scale.x(0.0)
    parts = [f'<line class="zero" x1="{zero}" x2="{zero}" y1="0" y2="{h}"/>']
    if low is not None and high is not None and not (_missing(low) or _missing(high)):
        x0, x1 = scale.x(float(low)), scale.x(float(high))
        parts.append(f'<rect class="ci {cls}" x="{x0}" y="5" width="{max(x1 - x0, 1.0)}" height="6"/>')
        title = f"{mean:+.2f} [{float(low):+.2f}, {float(high):+.2f}]"
    else:
        title = f"{mean:+.2f} (no interval)"
    parts.append(f'<circle class="mean {cls}" cx="{scale.x(mean)}" cy="8" r="3.5"/>')
    return (
        f'<svg class="bar" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        f"<title>{title}</title>{''.join(parts)}</svg>"
    )


def _seeds_cell(row: Mapping, csv_row: Mapping[str, str], links: RowLinks) -> str:
    seeds = [int(s) for s in str(row["seeds"]).split()]
    linked = " ".join(
        f'<a href="{escape(links.results[s])}" title="result.json of seed {s}">{s}</a>'
        if s in links.results
        else str(s)
        for s in seeds
    )
    return f'<td data-sort="{len(seeds)}"><span data-col="seeds" data-csv="{escape(csv_row["seeds"])}">{linked}</span></td>'


def _options_cell(links: RowLinks) -> str:
    if not links.options or links.options == [{}]:
        return '<td class="opts">–</td>'
    body = "".join(f"<pre>{escape(json.dumps(o, indent=2, sort_keys=True))}</pre>" for o in links.options)
    return f'<td class="opts"><details><summary>options</summary>{body}</details></td>'


def _number_cell(row: Mapping, csv_row: Mapping[str, str], col: str, fmt: str) -> str:
    return f'<td class="num" data-sort="{_sort_attr(row[col])}">{_num(row, csv_row, col, fmt)}</td>'


COLUMNS: Sequence[tuple[str, str, str]] = (
    # (header, CSV column it sorts by or "", "num" | "text"): the page's columns, left to right
    ("method", "label", "text"),
    ("ratio", "ratio", "num"),
    ("images", "budget", "num"),
    ("seeds (results)", "seeds", "num"),
    ("mAP", "mAP_mean", "num"),
    ("ΔmAP vs Random [95 % CI]", "vs_random_mean", "num"),  # beside the mAP it is about
    *((f"{m}", f"{m}_mean", "num") for m in METRICS if m != "mAP"),
    ("condense (s)", "condense_s_mean", "num"),
    ("student (s)", "student_s_mean", "num"),
    ("boxes / image", "boxes_per_image_mean", "num"),
    ("device", "device", "text"),
    ("labels", "", ""),
    ("options", "", ""),
)


def _ratio(raw) -> float:
    """A row's ratio; NaN for a set scored without a train set to measure it against (``dcbench eval``)."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _ratio_text(ratio: float) -> str:
    return "–" if math.isnan(ratio) else f"{ratio * 100:g} %"


def table_row(i: int, row: Mapping, csv_row: Mapping[str, str], links: RowLinks, scale: Scale) -> str:
    """One ``<tr>``; its ``data-*`` attributes are what the filters read."""
    ratio = _ratio(row["ratio"])
    attrs = (
        f'data-row="{i}" data-ratio="{escape(csv_row["ratio"])}" data-method="{escape(str(row["method"]))}" '
        f'data-labels="{escape(" ".join(links.label_modes))}"' + (' class="full"' if row["full"] else "")
    )
    cells = [
        f'<th scope="row" data-sort="{escape(str(row["label"]))}"><span data-col="label" '
        f'data-csv="{escape(csv_row["label"])}">{escape(str(row["label"]))}</span></th>',
        f'<td class="num" data-sort="{-1 if math.isnan(ratio) else ratio:.6g}"><span class="n" data-col="ratio" data-csv="{escape(csv_row["ratio"])}"'
        f">{_ratio_text(ratio)}</span></td>",
        f'<td class="num" data-sort="{int(row["budget"])}">{_num(row, csv_row, "budget", "d")}</td>',
        _seeds_cell(row, csv_row, links),
        _metric_cell(row, csv_row, "mAP"),
        f'<td class="delta" data-sort="{_delta_sort(row)}">{_delta_text(row, csv_row)}{interval_svg(row, scale)}</td>',
        *(_metric_cell(row, csv_row, m) for m in METRICS if m != "mAP"),
        _number_cell(row, csv_row, "condense_s_mean", ".0f"),
        _number_cell(row, csv_row, "student_s_mean", ".0f"),
        _number_cell(row, csv_row, "boxes_per_image_mean", ".1f"),
        f'<td data-sort="{escape(str(row["device"] or ""))}"><span data-col="device" '
        f'data-csv="{escape(csv_row["device"])}">{escape(str(row["device"] or "–"))}</span></td>',
        f'<td data-sort="{escape(" ".join(links.label_modes))}">{escape(", ".join(links.label_modes) or "–")}</td>',
        _options_cell(links),
    ]
    return f"<tr {attrs}>" + "".join(cells) + "</tr>"


def _select(name: str, label: str, options: list[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in options)
    return (
        f'<label>{label} <select id="filter-{name}" data-filter="{name}">'
        f'<option value="">all</option>{opts}</select></label>'
    )


def filters(table: Table, csv: list[dict[str, str]], links: list[RowLinks]) -> str:
    """The ratio, method and label-mode filters, offering exactly the values the rows carry."""
    ratios = sorted({(_ratio(c["ratio"]), c["ratio"]) for c in csv}, key=lambda r: (math.isnan(r[0]), r))
    methods = sorted({str(m) for m in table.summary["method"]})
    modes = sorted({m for lk in links for m in lk.label_modes})
    return (
        '<form class="filters" onsubmit="return false">'
        + _select("ratio", "ratio", [(text, _ratio_text(r)) for r, text in ratios])
        + _select("method", "method", [(m, m) for m in methods])
        + _select("labels", "labels", [(m, m) for m in modes])
        + '<output id="shown" aria-live="polite"></output></form>'
    )


def table_html(table: Table, links: list[RowLinks]) -> str:
    """The ``<table>`` of a leaderboard page (the page around it is the site's)."""
    rows = csv_rows(table)
    summary = table.summary.to_dict("records")
    if len(rows) != len(summary) or any(r["label"] != str(s["label"]) for r, s in zip(rows, summary)):
        raise AssertionError(f"{table.slug}: the CSV's rows are not the summary's")  # a bug, never a user error
    scale = interval_scale(table)
    head = "".join(
        f'<th scope="col" data-col="{col}" data-type="{kind}"><button type="button">{escape(h)}</button></th>'
        if col
        else f'<th scope="col">{escape(h)}</th>'
        for h, col, kind in COLUMNS
    )
    body = "\n".join(table_row(i, s, r, lk, scale) for i, (s, r, lk) in enumerate(zip(summary, rows, links)))
    axis = f"interval axis: {scale.low:+.1f} to {scale.high:+.1f} mAP, the line at 0"
    return (
        filters(table, rows, links)
        + f'<div class="scroll"><table class="leaderboard" data-slug="{escape(table.slug)}">'
        + f"<caption>{escape(table.title)} <small>({escape(axis)})</small></caption>"
        + f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )
