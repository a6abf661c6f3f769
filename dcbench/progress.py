"""Progress for long stages: a rich bar on a terminal, plain lines otherwise (CI logs, pipes).

Everything goes to stderr; stdout carries results only.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager

log = logging.getLogger("dcbench.progress")


class Reporter:
    """Stage-level progress. ``with reporter.stage("train", total=30, unit="epoch") as step: ... step(n, info)``;
    ``unit`` names what is counted (epochs, iterations, images), printed with the count."""

    def __init__(self, *, enabled: bool = True, rich: bool | None = None, console=None):
        self.enabled = enabled
        self.rich = sys.stderr.isatty() if rich is None else rich
        self.console = console  # a rich Console for the bars, handed in by the application (the CLI's stderr)

    def note(self, message: str) -> None:
        """A line worth telling the user: logged on the ``dcbench`` logger, which the CLI prints (a program that
        imports dcbench decides where its logs go)."""
        if self.enabled:
            log.info(message)

    @contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = ""):
        if not self.enabled:
            yield lambda n=None, info="": None
            return
        if self.rich:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            if self.console is None:  # nothing below the CLI reaches up into it for one
                from rich.console import Console

                self.console = Console(stderr=True)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=False,
            ) as progress:
                task = progress.add_task(f"{name} ({unit}s)" if unit else name, total=total, info="")

                def step(n: int | None = None, info: str = "") -> None:
                    if n is None:
                        progress.advance(task)
                    else:
                        progress.update(task, completed=n)
                    if info:
                        progress.update(task, info=info)

                yield step
            return
        start = time.perf_counter()
        last = [0.0]
        print(f"[dcbench] {name}: started", file=sys.stderr, flush=True)

        def line(n: int | None = None, info: str = "") -> None:
            now = time.perf_counter()
            # a line at most every 5 s keeps CI logs readable
            if now - last[0] >= 5.0 or (total is not None and n == total):
                last[0] = now
                where = f"{n}/{total}" if total is not None and n is not None else (str(n) if n is not None else "")
                where = f"{unit} {where}" if unit and where else where
                timing = _timing(now - start, n, total)
                text = " ".join(part for part in (where, info, timing) if part)
                print(f"[dcbench] {name}: {text}", file=sys.stderr, flush=True)

        yield line
        print(f"[dcbench] {name}: done in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _timing(elapsed: float, done: int | None, total: int | None) -> str:
    """``(0:01:40 elapsed, eta 0:03:20)``: the rest at the pace so far, once a stage that knows its total is under
    way; elapsed time alone otherwise."""
    if total is None or not done:
        return f"({_clock(elapsed)} elapsed)"
    if done >= total:
        return f"({_clock(elapsed)} elapsed)"
    return f"({_clock(elapsed)} elapsed, eta {_clock(elapsed / done * (total - done))})"


SILENT = Reporter(enabled=False)
