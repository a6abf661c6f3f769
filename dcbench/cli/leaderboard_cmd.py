"""``dcbench leaderboard RESULTS``: the paper-style tables (CSV, Markdown) and ratio-sweep plots of a results folder."""

from __future__ import annotations

from pathlib import Path

import typer

from dcbench.cli import console


def leaderboard(
    results: Path = typer.Argument(..., help="Results folder (searched recursively for result.json)."),
    out: Path = typer.Option(Path("leaderboards"), "--out", "-o", help="Where the tables and plots go."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace tables in --out that other results made."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Write nothing; exit 1 if the tables in --out are not exactly what the results give (for CI).",
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the ratio-sweep PNGs."),
) -> None:
    """Aggregate result files into one table per (dataset, evaluation detector, protocol): mean ± std over seeds,
    the delta against Random and the full-data row."""
    from dcbench.leaderboard.write import check_leaderboards, write_leaderboards

    if check:
        stale = check_leaderboards(results, out)
        if stale:
            console.err.print(
                f"[red]stale:[/red] {', '.join(stale)} in {out} differ from what {results} gives; "
                f"regenerate with: dcbench leaderboard {results} --out {out}",
                highlight=False,
            )
            raise typer.Exit(1)
        console.info(f"{out}: up to date with {results}")
        return
    from dcbench.io import writable_dir

    written = write_leaderboards(
        results, writable_dir(out, what="leaderboard folder"), plots=plots, overwrite=overwrite
    )
    for path in written:
        console.info(f"wrote {path}")
    for path in written:
        if path.suffix == ".md" and path.name != "README.md":
            console.out.print(path.read_text(), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)
