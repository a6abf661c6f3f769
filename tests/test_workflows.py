"""CI definitions: the GitHub workflow that checks the leaderboards and builds their site is valid (against the
GitHub-workflow schema check-jsonschema vendors, and actionlint where installed) and runs the README's commands;
``.ci/run`` runs the README's test command verbatim, after installing the browser test's Chromium."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "leaderboard.yml"


def _steps() -> list[dict]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step for job in jobs.values() for step in job.get("steps", [])]


def test_the_leaderboard_workflow_checks_the_tables_and_uploads_the_site():
    runs = [s.get("run", "") for s in _steps()]
    assert "dcbench leaderboard leaderboards/results --out leaderboards --check" in runs
    site = next(re.search(r"--html (\S+)", r).group(1) for r in runs if "--html" in r)
    upload = next(s for s in _steps() if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == site
    assert runs.index(next(r for r in runs if "--check" in r)) < runs.index(next(r for r in runs if "--html" in r))


def test_the_workflow_is_valid():
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    run = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_finds_nothing():
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (the schema check above runs without it)")
    run = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_ci_runs_the_readme_test_command_after_installing_chromium():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[1] in ci  # verbatim, a line of its own
    chromium = next(i for i, line in enumerate(ci) if "apt-get install" in line and "chromium" in line)
    assert chromium < ci.index(commands[1])
