"""``dcbench matrix SPEC``: every cell of a matrix spec, resumable; ``--dry-run`` shows what is done and what not."""

from __future__ import annotations

import inspect
import time
from collections import Counter
from pathlib import Path

import typer
from rich.table import Table

from dcbench.cli import console
from dcbench.errors import ConfigError

STATES = ("done", "stale", "damaged", "failed", "pending")  # harness.matrix.cell_state's, in the order shown


def matrix(
    spec: Path = typer.Argument(..., help="Matrix spec (TOML)."),
    out: str | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Results folder, or a store URL (s3://bucket/prefix, gs://..., file://...; any fsspec URL) for a cluster "
        "without a shared disk (default: runs/<spec name>).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and their state; run nothing."),
    executor: str = typer.Option("local", "--executor", "-e", help="local (sequential) or ray."),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster address (default: a private local instance)."
    ),
    num_cpus: int | None = typer.Option(None, "--num-cpus", help="CPUs of the private local Ray instance."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: GPU when present)."),
    ratio: list[float] | None = typer.Option(
        None,
        "--ratio",
        help="Only the cells at this ratio (repeatable; 1 is the full-data row): a long spec run a slice at a time, "
        "the lowest ratio first. The cells are the spec's own, so the slices add up to the whole matrix.",
    ),
    seed: list[int] | None = typer.Option(
        None,
        "--seed",
        help="Only the cells of this seed (repeatable; with --ratio, both): a seed at a time across every row, so a "
        "run cut short leaves rows with the same seeds, each one paired.",
    ),
    method: list[str] | None = typer.Option(
        None,
        "--method",
        help="Only the cells of this method (repeatable; with --ratio or --seed, all of them): one method's rows, "
        "every variant, e.g. to rerun it after a change (the leaderboard pairs it with the Random results already there).",
    ),
    skip_bad_images: bool = typer.Option(
        False,
        "--skip-bad-images",
        help="Leave unreadable images out of every cell (each result lists them) instead of failing the cell; "
        "as skip_bad_images = true in the spec. Such cells are named apart from the others.",
    ),
) -> None:
    """Run every cell of SPEC that has no result yet (failed cells are retried). Exit status 1 when a cell failed."""
    from dcbench.harness.matrix import cell_state, load_spec, slice_cells
    from dcbench.harness.staleness import damaged_result
    from dcbench.io import resolved, usable_dir, writable_dir
    from dcbench.store import Store, is_url, mirror_dir

    store = Store(out) if out is not None and is_url(out) else None
    if not dry_run:  # before the spec's datasets are loaded (or generated)
        if store is not None:
            store.check_writable()
        elif out is not None:
            usable_dir(out, what="results folder")
    matrix_spec = load_spec(spec, skip_bad_images=skip_bad_images)
    target: Path | str
    if store is not None:
        # the driver reads states (and measured costs) from a local mirror of the store's result files
        target, results = store.url, store.sync_results(mirror_dir(store.url))
    else:
        results = resolved(out or Path("runs") / matrix_spec.name, what="results folder")
        target = results = results if dry_run else writable_dir(results, what="results folder")
    cells = matrix_spec.cells()
    for field, wanted in (("ratio", ratio), ("seed", seed), ("method", method)):
        cells = slice_cells(cells, field, wanted, spec)
    states = {c.cell_name(): cell_state(results, c, matrix_spec.fingerprints) for c in cells}
    counts = Counter(states.values())
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    for name, state in states.items():
        problem = damaged_result(Path(results) / name) if state == "damaged" else None
        if problem:
            console.warn(f"{problem}; {'the cell is to run again' if dry_run else 'running the cell again'}")
    if dry_run:
        _show_plan(matrix_spec, cells, states, counts, summary, target, results, device)
        return
    todo = [c for c in cells if states[c.cell_name()] != "done"]
    console.info(
        f"{matrix_spec.name}: {len(cells)} cells ({summary}); running {len(todo)} with the {executor} "
        f"executor into {target}"
    )
    if todo:
        options = {k: v for k, v in {"address": address, "num_cpus": num_cpus}.items() if v is not None}
        _run(todo, target, executor, device, options)


def _show_plan(
    matrix_spec, cells, states, counts, summary: str, out: Path | str, results: Path, device: str | None
) -> None:
    """--dry-run: every cell with its state, and the estimated time of those still to run (``out`` as the user
    named it; ``results``: where its result files are read, a local mirror for a store)."""
    table = Table(
        "cell", "state", title=f"{matrix_spec.name}: {len(cells)} cells in {out} ({summary})", title_justify="left"
    )
    for c in cells:
        table.add_row(c.cell_name(), states[c.cell_name()])
    console.out.print(table)
    est = _estimate(matrix_spec, cells, states, results, device)
    console.out.print(f"{sum(n for s, n in counts.items() if s != 'done')} cells to run: {est.text()}")
    side_by_side = _cpu_lanes(device)
    if side_by_side > 1 and est.total_s:
        # measured on the 2-core reference machine: two one-thread students side by side each ran as fast as one
        # two-thread student alone (the small models of the CPU reference do not scale across threads)
        console.out.print(
            f"on this machine's {side_by_side} cores, --executor ray --num-cpus {side_by_side} runs that many "
            f"one-thread cells side by side: about {est.total_s / side_by_side / 3600:.1f} h"
        )


def _cpu_lanes(device: str | None) -> int:
    """How many one-thread cells can run side by side here: the cores, when the cells run on the CPU."""
    import os

    from dcbench.device import resolve_device

    return (os.cpu_count() or 1) if resolve_device(device) == "cpu" else 1


def _run(todo: list, out: Path | str, executor: str, device: str | None, options: dict) -> None:
    from dcbench.harness.executors import get_executor
    from dcbench.progress import Reporter

    run = get_executor(executor)
    unknown = [k for k in options if k not in inspect.signature(run).parameters]
    if unknown:
        raise ConfigError(f"--{unknown[0].replace('_', '-')} does not apply to the {executor} executor")

    def report(outcome) -> None:
        if outcome.status != "ok":
            mark = f"FAILED: {outcome.error}"
        else:
            mark = "ok" if outcome.here else "finished by another process; waited"
        console.info(f"{outcome.cell}: {mark} ({outcome.seconds:.1f}s)")

    started = time.perf_counter()
    # each executor resolves the device where the work runs: here for local, on the cluster's resources for Ray
    outcomes = run(todo, out, device=device, reporter=Reporter(console=console.err), on_done=report, **options)
    failed = [o for o in outcomes if o.status != "ok"]
    elsewhere = sum(1 for o in outcomes if o.status == "ok" and not o.here)
    console.info(
        f"{len(outcomes) - len(failed) - elsewhere} cells finished, {len(failed)} failed"
        + (f", {elsewhere} finished by another process" if elsewhere else "")
        + f", in {time.perf_counter() - started:.1f}s"
    )
    for o in failed:
        console.info(f"  failed: {out}/{o.cell}/failed.json")
    console.info(f"tables: dcbench leaderboard {out}")
    if failed:
        raise typer.Exit(1)


def _estimate(matrix_spec, cells, states, out: Path, device: str | None):
    from dcbench.device import device_name, resolve_device
    from dcbench.harness.estimate import estimate

    # sizes and fingerprints taken when the spec was checked
    machine = device_name(resolve_device(device))
    return estimate(cells, states, matrix_spec.train_sizes, out, matrix_spec.fingerprints, machine)


def register(app: typer.Typer) -> None:
    app.command("matrix")(matrix)
