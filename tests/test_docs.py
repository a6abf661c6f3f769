"""The documentation: the MkDocs site builds under --strict (no broken link or anchor, no page left out of the nav),
its command-line reference is what the CLI says now, and the README stays a short front door that opens with the
two set-up commands, the second of which CI runs verbatim."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_LIMIT = 12_000  # bytes: the README is the front door; everything else is a page of the site in docs/
CI_MARKER = "# --- the README's test command, verbatim ---"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    needed = {"mkdocs": "mkdocs", "material": "mkdocs-material", "mkdocstrings_handlers.python": "mkdocstrings[python]"}
    missing = [package for module, package in needed.items() if not _installed(module)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (pip install -e '.[dev]' installs them)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor, not a warning of ours
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
        + ["--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


def test_the_cli_reference_is_current():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _first_code_block(text: str) -> list[str]:
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no ```bash block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_is_short_and_opens_with_the_set_up_commands():
    data = README.read_bytes()
    assert len(data) < README_LIMIT, f"README.md is {len(data)} bytes; move detail to a page in docs/"
    text = data.decode("utf-8")
    # the title, then the set-up block, before anything else
    assert re.match(r"# dcbench\n\n```bash\n", text), text[:200]
    commands = _first_code_block(text)
    assert len(commands) == 2, commands
    run_job, run_tests = commands
    assert run_job.startswith("python3 -m venv .venv && ") and "dcbench run " in run_job, run_job
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert CI_MARKER in ci, f".ci/run lost its marker line {CI_MARKER!r}"
    assert ci[ci.index(CI_MARKER) + 1] == run_tests, "README's test command and .ci/run's differ"
