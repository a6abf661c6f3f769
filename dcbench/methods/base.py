"""Condensation methods: what one provides is :class:`dcbench.api.CondensationMethod`; here, whether a configured
method needs the teacher. The budget rule is :func:`dcbench.budget.budget_for`."""

from __future__ import annotations

from typing import Any

__all__ = ["needs_teacher"]


def needs_teacher(method: Any) -> bool:
    """Whether this method *instance* needs the Fetch teacher. Read off the instance, never the class: whether a
    method needs one may depend on its options (K-Center with ``extractor=resnet50:PATH`` does not)."""
    return bool(getattr(method, "requires_teacher", False))
