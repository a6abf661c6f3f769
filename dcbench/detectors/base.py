"""Detector backends: what one provides is :class:`dcbench.api.DetectorBackend`; ``describe`` names a backend in
records."""

from __future__ import annotations

from typing import Any

__all__ = ["describe"]


def describe(backend: Any) -> str:
    return getattr(backend, "name", type(backend).__name__)
