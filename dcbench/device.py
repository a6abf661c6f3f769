"""Device selection: ``cpu``, ``cuda``, ``cuda:N``; by default the GPU when there is one."""

from __future__ import annotations

from dcbench.errors import ConfigError


def resolve_device(requested: str | None) -> str:
    import torch

    if requested is None or requested == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    requested = requested.strip().lower()
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {requested!r} requested but CUDA is not available (torch {torch.__version__})")
        index = 0 if requested == "cuda" else requested.split(":", 1)[1]
        try:
            index = int(index)
        except ValueError:
            raise ConfigError(f"device {requested!r}: expected cuda:N with N a number") from None
        if not 0 <= index < torch.cuda.device_count():
            raise ConfigError(f"device {requested!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return f"cuda:{index}"
    raise ConfigError(f"unknown device {requested!r} (use cpu, cuda or cuda:N)")


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(int(device.split(":")[1]) if ":" in device else 0)
    import platform

    return platform.processor() or platform.machine() or "cpu"
