"""One cell run with its failure recorded: what every executor calls, in-process or in a Ray worker."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from dcbench.harness.cell import run_or_read_cell
from dcbench.harness.identity import CellConfig
from dcbench.harness.matrix import FAILED_FILE
from dcbench.io import LockHeld, atomic_write_text

if TYPE_CHECKING:
    from dcbench.progress import Reporter


@dataclass
class Outcome:
    cell: str
    status: str  # "ok" or "failed"
    seconds: float
    error: str | None = None
    cell_seconds: float | None = None  # the cell's own total_s (so executor overhead = seconds - cell_seconds)
    here: bool = True  # False: another process finished the cell while this one waited for it

    def as_dict(self) -> dict:
        return asdict(self)


def execute_cell(
    config: CellConfig,
    out: Path,
    *,
    device: str,
    reporter: Reporter | None = None,
    upstream_errors: list[str] | None = None,
    wait: bool = True,
) -> Outcome:
    """Run one cell. An exception from any part (a plugin, a corrupt input, a training crash) is written to the
    cell's ``failed.json`` and returned, so the matrix goes on; ``result.json`` is never written for it. A later
    success removes the failure record. ``upstream_errors``: what earlier stages of a distributed run reported
    (Ray's teacher and condense tasks), kept in ``failed.json`` beside the cell's own error. ``wait=False``: a cell
    another process is running raises :class:`dcbench.io.LockHeld` (not a failure: nothing was run)."""
    cell_dir = Path(out) / config.cell_name()
    started = time.perf_counter()
    try:
        result, here = run_or_read_cell(config, out, device=device, reporter=reporter, wait=wait)
    except LockHeld:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - no failing cell (a plugin's sys.exit too) stops the matrix
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        unrecorded = _record_failure(cell_dir, config, message, upstream_errors)
        if unrecorded:  # said with the outcome: the next run retries the cell all the same (no result.json)
            message += f"; and its {FAILED_FILE} could not be written ({unrecorded})"
        return Outcome(config.cell_name(), "failed", round(time.perf_counter() - started, 3), message)
    (cell_dir / FAILED_FILE).unlink(missing_ok=True)
    seconds = round(time.perf_counter() - started, 3)
    return Outcome(config.cell_name(), "ok", seconds, cell_seconds=result["timings"]["total_s"], here=here)


def _record_failure(cell_dir: Path, config: CellConfig, message: str, upstream_errors: list[str] | None) -> str | None:
    """Write the cell's ``failed.json`` (best effort: on a full disk it may fail too, and an earlier record is then
    left as it was, whole); None when written, else why not."""
    from dcbench.errors import DcbenchError

    record = {
        "cell": config.cell_name(),
        "status": "failed",
        "error": message,
        "traceback": traceback.format_exc(),
        "upstream_errors": list(upstream_errors or []),
        "config": config.as_dict(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        cell_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cell_dir / FAILED_FILE, json.dumps(record, indent=2, default=str) + "\n")
    except (OSError, DcbenchError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None
