"""Screenshot of a leaderboard page for the README: builds the site from the reference results into a temporary
folder (``dcbench leaderboard RESULTS --html``) and photographs one table's page with headless Chromium.

    python scripts/screenshot_leaderboard.py [--results leaderboards/results] [--table shapes__yolo11n__quick]
                                             [--out docs/leaderboard.png]

Needs Playwright (the ``dev`` extra) and a Chromium (``apt-get install chromium``, or ``$DCBENCH_CHROMIUM``).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def screenshot(results: Path, table: str, out: Path, *, width: int = 1360, height: int = 760) -> Path:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from dcbench.io import atomic_write_bytes
    from dcbench.leaderboard.browser import launch
    from dcbench.leaderboard.html_site import build_site

    with tempfile.TemporaryDirectory() as tmp:
        index = build_site(results, Path(tmp) / "site", plots=False)  # the figure is below the fold anyway
        page_file = index.parent / f"{table}.html"
        if not page_file.is_file():
            tables = sorted(p.stem for p in index.parent.glob("*.html") if p.name != "index.html")
            raise SystemExit(f"{table}: no such table in {results} (there are: {', '.join(tables)})")
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_file.as_uri())
            page.click('th[data-col="mAP_mean"] button')  # sorted by mAP, as a reader would look at it first
            png = page.screenshot(full_page=False)
            browser.close()
    # a palette PNG: the page is flat colours and text, so this keeps it sharp at a third of the size
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return atomic_write_bytes(out, buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "leaderboards" / "results")
    parser.add_argument("--table", default="shapes__yolo11n__quick", help="the table's slug (its file name)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "leaderboard.png")
    args = parser.parse_args(argv)
    from dcbench.leaderboard.browser import unavailable

    why = unavailable()
    if why:
        print(f"screenshot_leaderboard: {why}", file=sys.stderr)
        return 2
    print(screenshot(args.results, args.table, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
