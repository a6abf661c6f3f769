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
    """The GPU's name, or the CPU's model as the kernel reports it (``platform.processor()`` is often empty or
    just the architecture on Linux, which says nothing about speed)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(int(device.split(":")[1]) if ":" in device else 0)
    return _cpu_model() or "cpu"


def _cpu_model() -> str | None:
    import platform

    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def device_record(device: str) -> dict[str, object]:
    """Where a result's timings were taken: the device and its model, and for a CPU the cores the machine has and
    the threads torch used, without which a compute column cannot be compared across machines."""
    import os

    import torch

    record: dict[str, object] = {"name": device, "model": device_name(device)}
    if device == "cpu":
        record.update(cores=os.cpu_count(), threads=torch.get_num_threads())
    return record
