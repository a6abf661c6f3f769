"""``dcbench leaderboard RESULTS --html SITE``: the leaderboards as a static site that works offline.

``SITE/index.html`` lists every table (dataset, evaluation detector, protocol); ``SITE/<slug>.html`` is one table
(see :mod:`dcbench.leaderboard.html_table`) with its CSV and ratio-sweep PNG beside it; ``SITE/results/<path>/``
holds each cell's ``result.json`` (copied) and ``result.html`` (the same, readable). The style sheet and script are
dcbench's own files in ``SITE/assets/``: nothing is fetched when the page is viewed.

The site is made from the same aggregation as the CSV (:func:`load_results`, :func:`summarise`), built in a
temporary folder beside ``SITE`` and renamed into place, so a reader never sees half a site. As it replaces the
whole folder, it only replaces a folder that is empty or that it made itself (a marker file says so).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from dcbench.errors import ConfigError
from dcbench.io import partial_name, remove_dead_partials, usable_dir
from dcbench.leaderboard import collect
from dcbench.leaderboard.collect import load_results
from dcbench.leaderboard.html_table import RowLinks, table_html
from dcbench.leaderboard.tables import Table, summarise, to_csv
from dcbench.leaderboard.verdict import GLANCE_HEADING, glance
from dcbench.results import RESULT_FILE, DriftCheck

log = logging.getLogger(__name__)

MARKER = ".dcbench-site"  # in a folder this module made: the only kind of non-empty folder it replaces
ASSETS = ("leaderboard.css", "leaderboard.js")
RESULTS_DIR = "results"


def label_mode(record: Mapping) -> str:
    """Where a cell's training labels came from: ``stored`` (the condensed set's own boxes) or ``teacher`` (the
    Fetch teacher's), as the cell's ``config.labels`` records it (``dcbench run --labels``, a spec row's
    ``labels``); results made before cells recorded it used the stored labels. The tables read it through the same
    function, so the site's filter and the rows' names cannot disagree."""
    return collect.label_mode(record)


@dataclass(frozen=True)
class CellFile:
    rel: Path  # the result's folder, relative to the results folder
    record: dict

    @property
    def page(self) -> str:
        """The result page's path inside the site."""
        return "/".join((RESULTS_DIR, *self.rel.parts, "result.html"))


def scan_cells(results: Path) -> dict[str, CellFile]:
    """Every result file under ``results`` by cell name (the name ``load_results`` puts in its ``cell`` column)."""
    cells: dict[str, CellFile] = {}
    for f in sorted(results.rglob(RESULT_FILE)):
        try:
            record = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # ValueError: bad JSON and text that is not UTF-8 alike
            continue  # load_results skipped it with a warning, or it was replaced since: no page this time
        name = record.get("cell") if isinstance(record, dict) else None
        if isinstance(name, str) and name not in cells:
            cells[name] = CellFile(f.parent.relative_to(results), record)
    return cells


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="dcbench leaderboard --html">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{up}assets/leaderboard.css">\n'
        f'<script src="{up}assets/leaderboard.js" defer></script>\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _href(path: str) -> str:
    return escape(quote(path))


def _pretty(value, *, sort_keys: bool = True) -> str:
    return escape(json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False))


def _table_cells(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    key = (frame["dataset"] == table.dataset) & (frame["eval_detector"] == table.eval_detector)
    return frame[key & (frame["protocol"] == table.protocol)]


def row_links(table: Table, frame: pd.DataFrame, cells: Mapping[str, CellFile]) -> list[RowLinks]:
    """For each summary row: its cells' result pages by seed, their label modes and method options."""
    mine = _table_cells(frame, table)
    out = []
    for _, row in table.summary.iterrows():
        links = RowLinks()
        hit = mine[(mine["label"] == row["label"]) & (mine["ratio"] == row["ratio"])]
        for seed, name in sorted(zip(hit["seed"], hit["cell"])):
            cell = cells.get(name)
            if cell is None:
                continue
            links.results[int(seed)] = cell.page
            if label_mode(cell.record) not in links.label_modes:
                links.label_modes.append(label_mode(cell.record))
            options = (cell.record.get("method") or {}).get("options") or {}
            if options not in links.options:
                links.options.append(options)
        links.label_modes.sort()
        out.append(links)
    return out


def _protocols(table: Table, frame: pd.DataFrame, cells: Mapping[str, CellFile]) -> list[dict]:
    found: list[dict] = []
    for name in _table_cells(frame, table)["cell"]:
        protocol = (cells[name].record.get("config") or {}).get("protocol") if name in cells else None
        if protocol and protocol not in found:
            found.append(protocol)
    return found


HOW_TO_READ = (
    "mAP is COCO's AP@[.5:.95] on a 0-100 scale, mean ± sample std over the seeds listed (each seed links to its "
    "result); – is undefined or not run. ΔmAP vs Random: the mean of the per-seed differences to Random at the "
    "same ratio and seed, with its 95 % t interval (3 or more paired seeds; “unpaired”: no seed in common, "
    "Welch). ▲ / ▼ and a green / red bar: a win / loss significant at 5 % (the interval excludes 0); a grey bar "
    "that crosses the line at 0 is a tie. p: exact sign-flip test. Compute: mean seconds per cell to condense "
    "(teachers excluded) and to train the student. Click a column's name to sort by it."
)


def _glance_html(table: Table) -> str:
    verdicts = glance(table.summary)
    if not verdicts:
        return ""
    items = "".join(f"<li>{escape(v)}</li>" for v in verdicts)
    return f'\n<p>{escape(GLANCE_HEADING)}</p>\n<ul class="glance">{items}</ul>'


def table_page(table: Table, frame: pd.DataFrame, cells: Mapping[str, CellFile], *, plot: bool) -> str:
    protocols = _protocols(table, frame, cells)
    spelled = table.protocol_text or table.protocol
    figure = (
        f'<figure><img src="{_href(table.slug)}.png" alt="mAP, AP50 and the paired difference to Random against '
        f'the ratio" loading="lazy"><figcaption>Ratio sweep: mAP and AP50 (bands: 95 % interval of the mean), and '
        f"each method's paired difference to Random with its 95 % interval.</figcaption></figure>"
        if plot
        else ""
    )
    body = (
        f'<nav><a href="index.html">all leaderboards</a> · <a href="{_href(table.slug)}.csv">CSV</a></nav>\n'
        f"<h1>{escape(table.title)}</h1>\n"
        f"<p>{table.n_cells} cells, {table.total_s / 3600:.2f} h of wall time in all. {escape(table.timed_on_text)}</p>\n"
        f'<details class="protocol"><summary>protocol: {escape(spelled)}</summary>'
        + "".join(f"<pre>{_pretty(p)}</pre>" for p in protocols)
        + "</details>\n"
        + table_html(table, row_links(table, frame, cells))
        + _glance_html(table)
        + f'\n<p class="note">{escape(HOW_TO_READ)}</p>\n{figure}'
    )
    return _page(table.title, body, 0)


def result_page(cell: CellFile, back: str, title: str) -> str:
    up = "../" * (1 + len(cell.rel.parts))
    r = cell.record
    cfg = r.get("config") or {}
    facts = {
        "method": cfg.get("method"),
        "ratio": cfg.get("ratio"),
        "seed": cfg.get("seed"),
        "labels": label_mode(r),
        "mAP": (r.get("metrics") or {}).get("mAP"),
        "finished": r.get("finished"),
    }
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts.items() if v is not None)
    body = (
        f'<nav><a href="{up}{_href(back)}.html">{escape(title)}</a> · <a href="{up}index.html">all leaderboards</a>'
        f' · <a href="{RESULT_FILE}">raw {RESULT_FILE}</a></nav>\n'
        f'<h1>{escape(str(r.get("cell")))}</h1>\n<dl>{dl}</dl>\n<pre class="json">{_pretty(r, sort_keys=False)}</pre>'
    )
    return _page(f"{r.get('cell')} · result", body, 1 + len(cell.rel.parts))


def index_page(tables: list[Table], results: Path) -> str:
    rows = "".join(
        f'<tr><td><a href="{_href(t.slug)}.html">{escape(t.dataset)}</a></td><td>{escape(t.eval_detector)}</td>'
        f'<td>{escape(t.protocol_text or t.protocol)}</td><td class="num">{len(t.summary)}</td>'
        f'<td class="num">{t.n_cells}</td><td><a href="{_href(t.slug)}.csv">csv</a></td></tr>'
        for t in tables
    )
    body = (
        "<h1>dcbench leaderboards</h1>\n"
        f"<p>{len(tables)} tables from the result files in <code>{escape(results.name)}</code>, one per dataset, "
        "evaluation detector and protocol. Generated by <code>dcbench leaderboard --html</code>; the same numbers "
        "as the CSV and Markdown tables.</p>\n"
        '<table class="index"><thead><tr><th>dataset</th><th>evaluation detector</th><th>protocol</th>'
        f"<th>rows</th><th>cells</th><th>data</th></tr></thead>\n<tbody>{rows}</tbody></table>\n"
        f'<p class="note">{escape(HOW_TO_READ)}</p>'
    )
    return _page("dcbench leaderboards", body, 0)


def _write_site(stage: Path, tables: list[Table], frame: pd.DataFrame, results: Path, *, plots: bool) -> None:
    from dcbench.leaderboard.plot import plot_ratio_sweep

    (stage / "assets").mkdir()
    for name in ASSETS:
        data = resources.files("dcbench.leaderboard").joinpath("site_assets", name).read_bytes()
        (stage / "assets" / name).write_bytes(data)
    cells = scan_cells(results)
    for t in tables:
        (stage / f"{t.slug}.csv").write_text(to_csv(t), encoding="utf-8")  # the CSV's very text
        (stage / f"{t.slug}.html").write_text(table_page(t, frame, cells, plot=plots), encoding="utf-8")
        if plots:
            plot_ratio_sweep(t, stage / f"{t.slug}.png")
        for name in _table_cells(frame, t)["cell"]:
            cell = cells.get(name)
            if cell is None:
                continue
            folder = stage / cell.page.rsplit("/", 1)[0]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results / cell.rel / RESULT_FILE, folder / RESULT_FILE)
            (folder / "result.html").write_text(result_page(cell, t.slug, t.title), encoding="utf-8")
    (stage / "index.html").write_text(index_page(tables, results), encoding="utf-8")
    (stage / MARKER).write_text("made by dcbench leaderboard --html; the next build replaces this folder\n")
    log.debug("site staged in %s: %d tables, %d result pages", stage, len(tables), len(cells))


def _site_dir(dest: Path, results: Path) -> Path:
    """``dest`` resolved, if the site may go there: nothing of the user's is lost, the results stay apart."""
    dest = usable_dir(dest, what="site folder")
    results = results.resolve()
    if dest == results or results in dest.parents or dest in results.parents:
        raise ConfigError(f"{dest}: the site folder must lie outside the results folder {results} and not hold it")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise ConfigError(
            f"{dest}: not empty and not a site dcbench made (no {MARKER}); the site replaces the whole folder, "
            f"so give a new or empty one"
        )
    return dest


def _publish(stage: Path, dest: Path) -> None:
    """Put the finished site at ``dest`` in two renames; the old site is removed only once the new one is there."""
    if not dest.exists():
        os.replace(stage, dest)
        return
    old = partial_name(dest.with_name(f"{dest.name}.old"))
    os.replace(dest, old)
    try:
        os.replace(stage, dest)
    except OSError:
        os.replace(old, dest)  # the old site back rather than none
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_site(results: Path, dest: Path, *, plots: bool = True, drift: DriftCheck | None = None) -> Path:
    """Write the site of the leaderboards of ``results`` to ``dest``; returns its index page. A bad results folder
    raises the same one-line :class:`DatasetError` as the tables, before anything is written. ``drift`` marks stale
    rows."""
    results = Path(results)
    frame = load_results(results, drift)
    tables = summarise(frame)
    dest = _site_dir(Path(dest), results)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stem in (f".{dest.name}", f".{dest.name}.old"):  # what killed builds left behind
        remove_dead_partials(dest.parent, stem)
    stage = partial_name(dest)
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        _write_site(stage, tables, frame, results, plots=plots)
        _publish(stage, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.debug("site of %d tables in %s", len(tables), dest)
    return dest / "index.html"
