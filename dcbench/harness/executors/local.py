"""The default executor: cells one after another in this process (teachers and features cached on disk). With a
store URL as ``out``, each cell runs in a local workspace synchronised with the store (``executors.stored``).

Several processes may run the same spec into one results folder (two lanes on a CPU's cores, a GPU each, machines
on a shared disk): a cell another process is running, or whose teacher or condensed set another process is making,
is passed over and come back to after the rest, so the processes share the spec's cells (and train different
seeds' teachers side by side) instead of queueing behind one another on the same one."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from dcbench.harness.executors.outcome import Outcome, execute_cell
from dcbench.harness.identity import CellConfig
from dcbench.io import LockHeld
from dcbench.results import RESULT_FILE

if TYPE_CHECKING:
    from dcbench.progress import Reporter


def run_local(
    cells: list[CellConfig], out: Path | str, *, device: str | None, reporter: Reporter | None = None, on_done=None
) -> list[Outcome]:
    from dcbench.device import resolve_device
    from dcbench.harness.executors.stored import execute_stored
    from dcbench.store import is_url

    device = resolve_device(device)  # None: this machine's GPU when it has one
    folder = None if is_url(out) else Path(out)  # a store URL has no local locks or results to look at
    started = time.time()
    outcomes: list[Outcome] = []
    queue, passed_over = deque(cells), set()
    while queue:
        cell = queue.popleft()
        name = cell.cell_name()
        if folder is not None and _finished_since(folder / name, started):
            _note(reporter, f"{name}: finished by another process meanwhile")
            continue
        _note(reporter, f"[{len(outcomes) + 1}/{len(cells)}] {name}")
        if folder is None:
            outcome = execute_stored(cell, out, device=device, reporter=reporter)
        else:
            # passed over once between two cells this process finishes: a cell still held when its turn comes again
            # with nothing finished meanwhile is waited for, then read (every cell left is held: no point spinning)
            may_pass_over = bool(queue) and name not in passed_over
            try:
                outcome = execute_cell(cell, folder, device=device, reporter=reporter, wait=not may_pass_over)
            except LockHeld as held:
                passed_over.add(name)
                queue.append(cell)
                _note(reporter, f"{name}: another process holds {Path(str(held)).name}; coming back to it later")
                continue
        outcomes.append(outcome)
        # time has passed: what was held may be free now, and a cell passed over before may be passed over again
        passed_over.clear()
        if on_done is not None:
            on_done(outcome)
    return outcomes


def _finished_since(cell_dir: Path, started: float) -> bool:
    """A result written since this run began is another process's (this one writes a cell's only once); an older
    one is what the matrix chose to redo (stale, or made with other settings)."""
    done = cell_dir / RESULT_FILE
    return done.is_file() and done.stat().st_mtime >= started


def _note(reporter: Reporter | None, text: str) -> None:
    if reporter is not None:
        reporter.note(text)
