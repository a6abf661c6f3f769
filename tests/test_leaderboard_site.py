"""The leaderboard site (``dcbench leaderboard RESULTS --html SITE``): made from the CSV's rows, offline, atomic, and
careful with folders it did not make; then, in a real headless Chromium, the index, sorting, filtering, and every
number shown against the CSV (skipped where Playwright or a Chromium is missing)."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from dcbench.cli.app import main
from dcbench.leaderboard.browser import unavailable
from dcbench.leaderboard.html_site import MARKER, label_mode
from tests.test_leaderboard import fake_result

TEXT_COLUMNS = {"label", "seeds", "device"}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Two tables: Random, DCOD (winning on every seed), a DCOD variant trained on teacher labels, two ratios and
    the full set; and a cross-architecture table. Compute recorded, so those columns have numbers."""
    root = tmp_path_factory.mktemp("site") / "results"
    for seed in range(3):
        for ratio in (0.01, 0.02):
            fake_result(root, "random", ratio, seed, 10.0 + seed + 100 * ratio)
            fake_result(root, "dcod", ratio, seed, 12.5 + seed * 1.1 + 100 * ratio)
        fake_result(root, "dcod", 0.01, seed, 9.0 - seed, variant={"fbd": False, "ipe_fit": "crop"})
        fake_result(root, "full", 1.0, seed, 70.0 + seed, full=True)
    fake_result(root, "random", 0.01, 0, 9.0, eval_detector="faster-rcnn")
    for f in root.rglob("result.json"):
        r = json.loads(f.read_text())
        r["timings"] = {"train_s": 100.0 + r["config"]["seed"], "total_s": 1800.0}
        r["condensed"]["timings"] = {"condense_s": 40.0 if r["config"]["method"] == "dcod" else 0.01}
        r["device"] = {"name": "cpu"}
        if r["config"]["method"] == "dcod":
            r["method"]["options"] = {"lr": 0.002, "fbd": True, **r["method"]["variant"]}
        if r["method"]["variant"]:
            r["config"]["labels"] = "teacher"
        f.write_text(json.dumps(r))
    return root


@pytest.fixture(scope="module")
def built(results, tmp_path_factory) -> tuple[Path, Path]:
    """The site, and the CSV tables `dcbench leaderboard --out` writes from the same results."""
    out = tmp_path_factory.mktemp("built")
    assert main(["leaderboard", str(results), "--html", str(out / "site")]) == 0
    assert main(["leaderboard", str(results), "--out", str(out / "tables"), "--no-plots"]) == 0
    return out / "site", out / "tables"


class _Tagged(HTMLParser):
    """Every element with ``data-col`` in a table body: (row, column, the CSV text it claims, its text)."""

    def __init__(self):
        super().__init__()
        self.row: int | None = None
        self.open: list[list] = []  # [column, csv, text, depth]
        self.depth = 0
        self.found: list[tuple[int, str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-row" in a:
            self.row = int(a["data-row"])
        self.depth += 1
        if self.row is not None and "data-col" in a and "data-csv" in a:
            self.open.append([a["data-col"], a["data-csv"], "", self.depth])

    def handle_endtag(self, tag):
        if self.open and self.open[-1][3] == self.depth:
            col, value, text, _ = self.open.pop()
            self.found.append((self.row, col, value, text))
            for outer in self.open:
                outer[2] += text
        self.depth -= 1

    def handle_data(self, data):
        if self.open:
            self.open[-1][2] += data


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def assert_same_number(col: str, shown: str, value: str) -> None:
    """``shown`` is the CSV's ``value`` at the precision shown (the CSV has four decimals, the page two)."""
    shown = shown.strip()
    if col in TEXT_COLUMNS:
        assert shown == value, (col, shown, value)
    elif col == "ratio":
        assert shown == f"{float(value) * 100:g} %", (col, shown, value)
    else:
        m = re.fullmatch(r"[+-]?\d+(?:\.(\d+))?", shown)
        assert m, (col, shown)
        decimals = len(m.group(1) or "")
        assert abs(float(shown) - float(value)) <= 0.5 * 10**-decimals + 5e-5 + 1e-9, (col, shown, value)


@pytest.mark.slow
def test_every_number_on_the_pages_is_the_csvs(built):
    site, tables = built
    csvs = sorted(tables.glob("*.csv"))
    assert len(csvs) == 2
    columns = set()
    for table_csv in csvs:
        assert (site / table_csv.name).read_text() == table_csv.read_text()  # the CSV's very bytes, beside it
        rows = read_csv(table_csv)
        parser = _Tagged()
        parser.feed((site / f"{table_csv.stem}.html").read_text())
        assert {r for r, *_ in parser.found} == set(range(len(rows)))
        for row, col, claimed, text in parser.found:
            assert claimed == rows[row][col], (table_csv.stem, row, col)
            assert_same_number(col, text, claimed)
        columns |= {col for _, col, *_ in parser.found}
    assert {"mAP_mean", "mAP_std", "vs_random_low", "vs_random_p_signflip", "condense_s_mean", "budget"} <= columns


def test_the_site_is_offline_and_links_resolve(built, results):
    site, _ = built
    pages = list(site.rglob("*.html"))
    assert len(pages) == 1 + 2 + len(list(results.rglob("result.json")))  # the index, two tables, one per result
    for page in pages:
        text = page.read_text()
        refs = re.findall(r'(?:href|src)="([^"]+)"', text)
        assert not [r for r in refs if re.match(r"[a-z]+:", r)], page  # nothing from another host, no file: URL
        for ref in refs:
            assert (page.parent / unquote(ref)).resolve().is_file(), (page, ref)
    assert (site / "assets" / "leaderboard.js").is_file() and (site / "assets" / "leaderboard.css").is_file()
    assert (site / "shapes__yolov3-tiny__quick.png").read_bytes()[:4] == b"\x89PNG"


def test_result_pages_show_the_json_and_link_the_raw_file(built, results):
    site, _ = built
    raw = sorted(results.rglob("result.json"))
    for f in raw:
        copied = site / "results" / f.parent.relative_to(results) / "result.json"
        assert copied.read_bytes() == f.read_bytes()
        page = (copied.parent / "result.html").read_text()
        assert 'href="result.json"' in page and "&quot;metrics&quot;: {" in page
    table_page = (site / "shapes__yolov3-tiny__quick.html").read_text()
    assert "<details" in table_page and "protocol: quick" in table_page and "&quot;ipe_fit&quot;" in table_page
    # the table's answer in words, as the Markdown table gives it
    assert '<ul class="glance"><li>At 1 % (' in table_page and "significantly above Random: " in table_page


def test_label_mode_defaults_to_stored_and_reaches_the_rows(built):
    assert label_mode({"config": {}}) == "stored" and label_mode({}) == "stored"
    assert label_mode({"config": {"labels": "teacher"}}) == "teacher"
    page = (built[0] / "shapes__yolov3-tiny__quick.html").read_text()
    assert page.count('data-labels="teacher"') == 1 and 'data-labels="stored"' in page


def test_html_alone_leaves_the_tables_alone(results, tmp_path, monkeypatch):
    """`--html` writes the site only: the default --out (leaderboards/) is not rewritten on the side."""
    monkeypatch.chdir(tmp_path)
    assert main(["leaderboard", str(results), "--html", "site", "--no-plots"]) == 0
    assert (tmp_path / "site" / "index.html").is_file() and not (tmp_path / "leaderboards").exists()
    assert main(["leaderboard", str(results), "--html", "site", "--out", "lb", "--no-plots"]) == 0
    assert (tmp_path / "lb" / "shapes__yolov3-tiny__quick.csv").is_file()


def test_rebuilds_replace_the_site_and_nothing_else(results, tmp_path, capsys):
    site = tmp_path / "site"
    assert main(["leaderboard", str(results), "--html", str(site), "--no-plots"]) == 0
    (site / "stale.html").write_text("from an older build")
    assert main(["leaderboard", str(results), "--html", str(site), "--no-plots"]) == 0
    assert not (site / "stale.html").exists() and (site / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging folder or old copy left
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["leaderboard", str(results), "--html", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a site dcbench made" in err
    assert (mine / "notes.txt").read_text() == "keep me"
    assert main(["leaderboard", str(results), "--html", str(results / "site")]) == 2  # would be read as results


def test_a_bad_results_folder_is_one_line_and_keeps_the_old_site(results, tmp_path, capsys):
    site = tmp_path / "site"
    assert main(["leaderboard", str(results), "--html", str(site), "--no-plots"]) == 0
    before = (site / "index.html").read_text()
    bad = tmp_path / "bad"
    fake_result(bad, "random", 0.01, 0, 1.0)
    next(bad.rglob("result.json")).write_text("{not json")
    capsys.readouterr()
    assert main(["leaderboard", str(bad), "--html", str(site)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a dcbench result file" in err
    assert (site / "index.html").read_text() == before
    assert main(["leaderboard", str(tmp_path / "missing"), "--html", str(site)]) == 2
    assert main(["leaderboard", str(results), "--html", str(site), "--check"]) == 2


def test_check_names_the_command_that_regenerates_the_tables(results, tmp_path, capsys):
    """A result added without regenerating the tables: --check fails and says what to run."""
    import shutil

    grown, out = tmp_path / "results", tmp_path / "lb"
    shutil.copytree(results, grown)
    assert main(["leaderboard", str(grown), "--out", str(out), "--no-plots"]) == 0
    assert main(["leaderboard", str(grown), "--out", str(out), "--check"]) == 0
    fake_result(grown, "uniform", 0.01, 0, 3.0)
    capsys.readouterr()
    assert main(["leaderboard", str(grown), "--out", str(out), "--check"]) == 1
    assert f"dcbench leaderboard {grown} --out {out}" in capsys.readouterr().err


# -- in a browser ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    why = unavailable()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    from dcbench.leaderboard.browser import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh tab; whatever the page logs as an error, throws, or fails to load is in ``page.problems``."""
    tab = browser.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"not loaded: {r.url}"))
    tab.problems = problems
    yield tab
    tab.close()


ROWS_JS = """rows => rows.map(r => {
    const rest = r.cloneNode(true);
    rest.querySelectorAll('[data-col], svg, details').forEach(e => e.remove());
    return {row: +r.dataset.row, ratio: r.dataset.ratio, hidden: r.hidden, rest: rest.textContent,
            tagged: Array.from(r.querySelectorAll('[data-col]')).map(e => [e.dataset.col, e.dataset.csv, e.innerText])};
})"""


@pytest.mark.browser
@pytest.mark.slow
def test_the_index_lists_every_table(built, page):
    site, tables = built
    page.goto((site / "index.html").as_uri())
    links = page.eval_on_selector_all("table.index a[href$='.html']", "els => els.map(e => e.getAttribute('href'))")
    assert sorted(links) == sorted(f"{p.stem}.html" for p in tables.glob("*.csv"))
    page.click("table.index a[href='shapes__yolov3-tiny__quick.html']")
    assert page.inner_text("h1") == "shapes · evaluated with yolov3-tiny · protocol quick"
    assert page.problems == []


@pytest.mark.browser
def test_sorting_by_map_orders_the_rows(built, page):
    site, tables = built
    rows = read_csv(tables / "shapes__yolov3-tiny__quick.csv")
    page.goto((site / "shapes__yolov3-tiny__quick.html").as_uri())
    button = 'th[data-col="mAP_mean"] button'
    order = "rows => rows.map(r => +r.dataset.row)"
    for direction in ("descending", "ascending"):
        page.click(button)
        assert page.get_attribute('th[data-col="mAP_mean"]', "aria-sort") == direction
        shown = [float(rows[i]["mAP_mean"]) for i in page.eval_on_selector_all("tbody tr", order)]
        assert shown == sorted(shown, reverse=direction == "descending") and len(shown) == len(rows)
    page.click('th[data-col="label"] button')  # text columns sort too
    labels = [rows[i]["label"] for i in page.eval_on_selector_all("tbody tr", order)]
    assert labels == sorted(labels, key=str.lower)
    assert page.problems == []


@pytest.mark.browser
def test_filters_hide_the_other_rows(built, page):
    site, tables = built
    rows = read_csv(tables / "shapes__yolov3-tiny__quick.csv")
    page.goto((site / "shapes__yolov3-tiny__quick.html").as_uri())
    page.select_option("#filter-ratio", "0.0100")
    state = page.eval_on_selector_all("tbody tr", ROWS_JS)
    assert {r["ratio"] for r in state if not r["hidden"]} == {"0.0100"}
    assert {r["ratio"] for r in state if r["hidden"]} == {"0.0200", "1.0000"}
    assert sum(not r["hidden"] for r in state) == sum(r["ratio"] == "0.0100" for r in rows)
    assert page.inner_text("#shown") == f"{sum(r['ratio'] == '0.0100' for r in rows)} of {len(rows)} rows shown"
    page.select_option("#filter-labels", "teacher")
    visible = [r["row"] for r in page.eval_on_selector_all("tbody tr", ROWS_JS) if not r["hidden"]]
    # a DCOD row of the older tables, made before its record version 3: marked stale
    assert [rows[i]["label"] for i in visible] == ["dcod (fbd=false, ipe_fit=crop) [teacher labels] [stale]"]
    page.select_option("#filter-ratio", "")
    page.select_option("#filter-labels", "")
    page.select_option("#filter-method", "random")
    visible = [r["row"] for r in page.eval_on_selector_all("tbody tr", ROWS_JS) if not r["hidden"]]
    assert {rows[i]["method"] for i in visible} == {"random"} and len(visible) == 2
    assert page.problems == []


@pytest.mark.browser
def test_every_number_shown_is_the_csvs(built, page):
    """What Chromium renders, read back: each number equals the CSV's at its precision; no number stands
    outside an element that names its CSV column."""
    site, tables = built
    for table_csv in sorted(tables.glob("*.csv")):
        rows = read_csv(table_csv)
        page.goto((site / f"{table_csv.stem}.html").as_uri())
        state = page.eval_on_selector_all("tbody tr", ROWS_JS)
        assert len(state) == len(rows)
        for r in state:
            assert not re.search(r"\d", r["rest"]), (table_csv.stem, r["row"], r["rest"])
            for col, claimed, text in r["tagged"]:
                assert claimed == rows[r["row"]][col]
                assert_same_number(col, text, claimed)
    assert page.problems == []


@pytest.mark.browser
def test_a_seed_opens_its_result(built, page, results):
    site, _ = built
    page.goto((site / "shapes__yolov3-tiny__quick.html").as_uri())
    page.click('tbody tr[data-row="0"] [data-col="seeds"] a >> nth=1')
    cell = page.inner_text("h1")
    raw = next(f for f in results.rglob("result.json") if json.loads(f.read_text())["cell"] == cell)
    assert json.loads(raw.read_text())["config"]["seed"] == 1
    assert json.loads(page.inner_text("pre.json")) == json.loads(raw.read_text())
    page.click("nav a >> nth=0")
    assert page.url.endswith("shapes__yolov3-tiny__quick.html")
    assert page.problems == []
