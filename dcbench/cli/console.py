"""Two consoles: results go to stdout, progress and logs to stderr (so ``dcbench ... > out.json`` stays clean)."""

from __future__ import annotations

import logging

from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _ToStderr(logging.Handler):
    """dcbench's log records (``logging.getLogger("dcbench.*")``), printed on the stderr console as one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prefix = "[dcbench] " if record.levelno < logging.WARNING else "[yellow]warning:[/yellow] "
            err.print(prefix + record.getMessage(), highlight=False, markup=record.levelno >= logging.WARNING)
        except Exception:  # noqa: BLE001 - logging must never take the run down
            self.handleError(record)


def install_log_handler(level: int = logging.INFO) -> None:
    """The CLI's handler for every dcbench module's logger; the library itself installs none (a program that
    imports dcbench decides where its logs go)."""
    root = logging.getLogger("dcbench")
    if not any(isinstance(h, _ToStderr) for h in root.handlers):
        root.addHandler(_ToStderr())
    root.setLevel(level)
    root.propagate = False


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False, markup=True)


def info(message: str) -> None:
    err.print(message, highlight=False, markup=False)


def shown_existing(cell_dir, force: bool, render) -> bool:
    """A finished result in ``cell_dir`` is shown (``render(result)`` on stdout) instead of redone, unless ``force``;
    True when it was shown."""
    from dcbench.harness.staleness import read_result

    existing = read_result(cell_dir)
    if existing is None or force:
        return False
    info(f"{cell_dir}/result.json exists: showing it (use --force to redo)")
    out.print(render(existing))
    return True
