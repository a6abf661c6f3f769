"""``dcbench matrix SPEC``: every cell of a matrix spec, resumable; ``--dry-run`` shows what is done and what not."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from dcbench.cli import console


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
    gpu: str | None = typer.Option(
        None,
        "--gpu",
        help="With --dry-run: the time left as GPU-hours on one V100, A100, H100 or RTX4090, modelled from counted "
        "FLOPs and the GPU's datasheet peak at an assumed efficiency (a model, not a measurement).",
    ),
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
    from dcbench.harness.staleness import damaged_result
    from dcbench.runner import plan_matrix

    costs = _gpu_costs(gpu, dry_run)  # before the datasets are loaded: a typo costs nothing
    plan = plan_matrix(
        spec,
        out,
        ratios=ratio or (),
        seeds=seed or (),
        methods=method or (),
        skip_bad_images=skip_bad_images,
        dry_run=dry_run,
    )
    for name, state in plan.states.items():
        problem = damaged_result(plan.results / name) if state == "damaged" else None
        if problem:
            console.warn(f"{problem}; {'the cell is to run again' if dry_run else 'running the cell again'}")
    if dry_run:
        _show_plan(plan, device, costs)
        return
    console.info(
        f"{plan.spec.name}: {len(plan.cells)} cells ({plan.summary()}); running {len(plan.todo)} with the "
        f"{executor} executor into {plan.target}"
    )
    options = {k: v for k, v in {"address": address, "num_cpus": num_cpus}.items() if v is not None}
    _run(plan, executor, device, options)


def _gpu_costs(gpu: str | None, dry_run: bool):
    """The FLOP model of the GPU named by --gpu, or None (measured costs)."""
    from dcbench.errors import ConfigError
    from dcbench.harness.gpu_cost import FlopCosts, get_gpu

    if gpu is None:
        return None
    if not dry_run:
        raise ConfigError("--gpu models the time of a --dry-run; a run uses the --device it is given")
    return FlopCosts(get_gpu(gpu))


def _show_plan(plan, device: str | None, costs=None) -> None:
    """--dry-run: every cell with its state, and the estimated time of those still to run."""
    table = Table(
        "cell",
        "state",
        title=f"{plan.spec.name}: {len(plan.cells)} cells in {plan.target} ({plan.summary()})",
        title_justify="left",
    )
    for c in plan.cells:
        table.add_row(c.cell_name(), plan.states[c.cell_name()])
    console.out.print(table)
    est = _estimate(plan, device, costs)
    console.out.print(f"{len(plan.todo)} cells to run: {est.text()}")
    side_by_side = 1 if costs is not None else _cpu_lanes(device)
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


def _run(plan, executor: str, device: str | None, options: dict) -> None:
    from dcbench.progress import Reporter
    from dcbench.runner import run_plan

    def report(outcome) -> None:
        if outcome.status != "ok":
            mark = f"FAILED: {outcome.error}"
        else:
            mark = "ok" if outcome.here else "finished by another process; waited"
        console.info(f"{outcome.cell}: {mark} ({outcome.seconds:.1f}s)")

    started = time.perf_counter()
    reporter = Reporter(console=console.err)
    outcomes = run_plan(plan, executor=executor, device=device, reporter=reporter, on_done=report, **options)
    failed = [o for o in outcomes if o.status != "ok"]
    elsewhere = sum(1 for o in outcomes if o.status == "ok" and not o.here)
    if outcomes:
        console.info(
            f"{len(outcomes) - len(failed) - elsewhere} cells finished, {len(failed)} failed"
            + (f", {elsewhere} finished by another process" if elsewhere else "")
            + f", in {time.perf_counter() - started:.1f}s"
        )
    for o in failed:
        console.info(f"  failed: {plan.target}/{o.cell}/failed.json")
    console.info(f"tables: dcbench leaderboard {plan.target}")
    if failed:
        raise typer.Exit(1)


def _estimate(plan, device: str | None, costs=None):
    from dcbench.device import device_name, resolve_device
    from dcbench.harness.estimate import estimate

    # sizes, class counts and fingerprints taken when the spec was checked
    machine = device_name(resolve_device(device)) if costs is None else None
    spec = plan.spec
    return estimate(
        plan.cells,
        plan.states,
        spec.train_sizes,
        plan.results,
        spec.fingerprints,
        machine,
        costs=costs,
        classes=spec.classes,
    )


def register(app: typer.Typer) -> None:
    app.command("matrix")(matrix)
