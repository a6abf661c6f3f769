"""The headless Chromium that the site's browser test and its screenshot script drive through Playwright.

Playwright downloads a browser build of its own (``playwright install chromium``), which machines without a
network cannot do; a distribution's Chromium works as well through ``executable_path``. Nothing here imports
Playwright: the site itself never needs a browser.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "DCBENCH_CHROMIUM"  # a Chromium or Chrome executable to use instead of the one found on PATH
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_executable() -> str | None:
    """``$DCBENCH_CHROMIUM``, else the first Chromium on PATH (Debian's package is ``chromium``), else None (then
    only Playwright's own browser, if installed, can be launched)."""
    given = os.environ.get(ENV)
    if given:
        if Path(given).is_file():
            return given
        log.warning("%s=%s: no such file; looking on PATH", ENV, given)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch(playwright, **kwargs):
    """A headless Chromium browser: the one :func:`chromium_executable` finds, else Playwright's own."""
    exe = chromium_executable()
    if exe:
        kwargs.setdefault("executable_path", exe)
    return playwright.chromium.launch(headless=True, **kwargs)


def unavailable() -> str | None:
    """Why no browser can be driven here (None when one can): Playwright missing, or no Chromium at all."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_executable():
        return None
    with sync_playwright() as p:
        if Path(p.chromium.executable_path).is_file():
            return None
    return f"no Chromium: apt-get install chromium, or set {ENV} (Playwright's own download needs a network)"
