"""The default executor: cells one after another in this process (teachers and features cached on disk). With a
store URL as ``out``, each cell runs in a local workspace synchronised with the store (``executors.stored``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dcbench.harness.cell import CellConfig
from dcbench.harness.executors.outcome import Outcome, execute_cell

if TYPE_CHECKING:
    from dcbench.progress import Reporter


def run_local(
    cells: list[CellConfig], out: Path | str, *, device: str | None, reporter: Reporter | None = None, on_done=None
) -> list[Outcome]:
    from dcbench.device import resolve_device
    from dcbench.harness.executors.stored import execute_stored
    from dcbench.store import is_url

    device = resolve_device(device)  # None: this machine's GPU when it has one
    outcomes = []
    for i, cell in enumerate(cells, 1):
        if reporter is not None:
            reporter.note(f"[{i}/{len(cells)}] {cell.cell_name()}")
        if is_url(out):
            outcome = execute_stored(cell, out, device=device, reporter=reporter)
        else:
            outcome = execute_cell(cell, Path(out), device=device, reporter=reporter)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
