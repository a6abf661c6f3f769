"""Two consoles: results go to stdout, progress and logs to stderr (so ``dcbench ... > out.json`` stays clean).

Both print text as it is: rich's markup is off, so a file or plugin named ``[bold]x`` or ``[/]`` is printed
verbatim (and cannot raise rich's MarkupError); the few styled words (``error:``, ``warning:``) are styled
:class:`~rich.text.Text`, never markup mixed with data. Errors and warnings are one line each: a line break or
another control character in a name they quote is printed escaped (``\n``).
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.text import Text

out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


def _styled(label: str, style: str, message: str) -> Text:
    from dcbench.io import one_line

    return Text.assemble((label, style), " ", one_line(message))


class _ToStderr(logging.Handler):
    """dcbench's log records (``logging.getLogger("dcbench.*")``), printed on the stderr console as one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                err.print(_styled("warning:", "yellow", message), highlight=False)
            else:
                err.print("[dcbench] " + message, highlight=False, markup=False)
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
    err.print(_styled("warning:", "yellow", message), highlight=False)


def error(message: str) -> None:
    err.print(_styled("error:", "red", message), highlight=False)


def info(message: str) -> None:
    err.print(message, highlight=False, markup=False)


def shown_existing(cell_dir, force: bool, render) -> bool:
    """A finished result in ``cell_dir`` is shown (``render(result)`` on stdout) instead of redone, unless ``force``;
    True when it was shown. A result file that cannot be read (damaged, or from a newer dcbench) is no finished
    result: said in one line, and the cell is run again (its file replaced only once the new result is complete)."""
    from dcbench.harness.staleness import damaged_result, read_result

    existing = read_result(cell_dir)
    if existing is None or force:
        problem = None if force else damaged_result(cell_dir)
        if problem:
            warn(f"{problem}; running the cell again")
        return False
    info(f"{cell_dir}/result.json exists: showing it (use --force to redo)")
    out.print(render(existing))
    return True
