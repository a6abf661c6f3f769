"""Image loading and letterboxing: they live in :mod:`dcbench.io`; kept importable from here."""

from dcbench.io import PAD_VALUE, Letterbox, letterbox

__all__ = ["PAD_VALUE", "Letterbox", "letterbox"]
