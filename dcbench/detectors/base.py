"""Detector backends: what one provides is :class:`dcbench.api.DetectorBackend` (re-exported here, with its
Checkpoint and InversionTarget); ``describe`` names a backend in records."""

from __future__ import annotations

from typing import Any

# the contract lives in dcbench.api; these names stay importable from here
from dcbench.api import Checkpoint, DetectorBackend, InversionTarget

__all__ = ["Checkpoint", "DetectorBackend", "InversionTarget", "describe"]


def describe(backend: Any) -> str:
    return getattr(backend, "name", type(backend).__name__)
