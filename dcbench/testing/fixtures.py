"""pytest fixtures for plugin authors: import them in ``conftest.py`` (or list this module in ``pytest_plugins``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def dcbench_cache(tmp_path, monkeypatch):
    """An isolated dcbench cache (generated datasets, teachers, features) for one test."""
    path = tmp_path / "dcbench-cache"
    monkeypatch.setenv("DCBENCH_CACHE", str(path))
    return path


@pytest.fixture
def dcbench_tiny_dataset(dcbench_cache):
    """A small generated dataset with train/test splits and one class without boxes."""
    from dcbench.testing.contracts import tiny_dataset

    return tiny_dataset()
