"""Executors run a list of cells into one results folder. Each is ``run(cells, out, *, device, reporter, **options)
-> list[Outcome]`` and is imported only when chosen, so the local path never imports Ray."""

from __future__ import annotations

import importlib

EXECUTORS = {
    "local": "dcbench.harness.executors.local:run_local",
    "ray": "dcbench.harness.executors.ray_executor:run_ray",
}


def get_executor(name: str):
    from dcbench.errors import ConfigError

    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    module, attr = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), attr)
