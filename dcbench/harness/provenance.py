"""What every result carries so it can be trusted later: library versions, git revision, machine."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TypedDict

LIBRARIES = (
    "dcbench",
    "torch",
    "torchvision",
    "ultralytics",
    "detectron2",
    "numpy",
    "pycocotools",
    "faster-coco-eval",
    "pluggy",
)


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for lib in LIBRARIES:
        versions[lib] = _version(lib)
    return versions


def evaluator_backend(backend: str | None = None) -> dict[str, str | None]:
    """Which COCO evaluator scores a cell, for its record: ``{"name": ..., "version": ...}``, the name being
    ``backend`` or, when None, what :func:`dcbench.evaluation.coco_eval.evaluate` uses by default
    (``$DCBENCH_EVALUATOR`` or faster-coco-eval). Provenance only: the backends agree to 1e-6, so results scored
    with either are current (staleness compares protocol, method settings and data fingerprints, not this)."""
    from dcbench.evaluation.coco_eval import default_backend

    name = backend or default_backend()
    return {"name": name, "version": _version(name)}  # both backends' distributions are named as the backends


def git_revision() -> dict[str, object] | None:
    """The dcbench checkout's commit and whether it had local changes; None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return {"revision": rev.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, str]:
    return {"platform": platform.platform(), "machine": platform.machine()}


class RunProvenance(TypedDict):
    """The part of a result record (``api.ResultRecord``) that :func:`run_provenance` fills."""

    evaluator: dict[str, str | None]
    device: dict[str, object]
    environment: dict[str, str | None]
    git: dict[str, object] | None
    finished: str


def run_provenance(device: str) -> RunProvenance:
    """What every result records about how it was scored and where it ran: the evaluator, the device, library
    versions and machine, the git revision, and when it finished."""
    from datetime import datetime, timezone

    from dcbench.device import device_record

    return {
        "evaluator": evaluator_backend(),
        "device": device_record(device),
        "environment": {**library_versions(), **machine()},
        "git": git_revision(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
