"""``dcbench leaderboard RESULTS``: the paper-style tables (CSV, Markdown) and ratio-sweep plots of a results folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from dcbench.cli import console
from dcbench.errors import ConfigError


def leaderboard(
    ctx: typer.Context,
    results_arg: str = typer.Argument(
        ...,
        metavar="RESULTS",
        help="Results folder (searched recursively for result.json), or the store URL a matrix ran into.",
    ),
    out: Path = typer.Option(Path("leaderboards"), "--out", "-o", help="Where the tables and plots go."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace tables in --out that other results made."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Write nothing; exit 1 if the tables in --out are not exactly what the results give (for CI).",
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the ratio-sweep PNGs."),
    html: Path | None = typer.Option(
        None, "--html", help="Write the tables as a static site (works offline) to this folder, replacing it."
    ),
    latex: Path | None = typer.Option(
        None, "--latex", help="Write each table as a booktabs LaTeX table (<table>.tex, ready to \\input) here."
    ),
    ar: bool = typer.Option(False, "--ar", help="Show COCO's six AR numbers beside its six AP (Markdown and CSV)."),
) -> None:
    """Aggregate result files into one table per (dataset, evaluation detector, protocol): mean ± std over seeds,
    the delta against Random and the full-data row. With --html or --latex only those are written, unless --out
    is given too."""
    from dcbench.evaluation.coco_eval import ALL_METRICS, METRICS
    from dcbench.harness.staleness import drift_check
    from dcbench.leaderboard.write import check_leaderboards, write_leaderboards

    metrics = ALL_METRICS if ar else METRICS
    results = results_folder(results_arg)
    drift = drift_check()  # rows made by an older version of their installed method are marked [stale]
    if html is not None or latex is not None:
        if check:
            raise ConfigError("--check writes nothing: run it without --html/--latex, and those without --check")
        _write_extras(results, html=html, latex=latex, plots=plots, drift=drift)
        # only what was asked for: the checked-in tables in leaderboards/ are not rewritten on the side. By the
        # source's name: typer ships its own copy of click, whose ParameterSource is not click's
        if getattr(ctx.get_parameter_source("out"), "name", None) in (None, "DEFAULT", "DEFAULT_MAP"):
            return
    if check:
        stale = check_leaderboards(results, out, metrics=metrics, drift=drift)
        if stale:
            console.err.print(
                Text.assemble(
                    ("stale:", "red"),
                    f" {', '.join(stale)} in {out} differ from what {results_arg} gives; "
                    f"regenerate with: dcbench leaderboard {results_arg} --out {out}",
                ),
                highlight=False,
            )
            raise typer.Exit(1)
        console.info(f"{out}: up to date with {results_arg}")
        return
    from dcbench.io import writable_dir

    written = write_leaderboards(
        results,
        writable_dir(out, what="leaderboard folder"),
        plots=plots,
        overwrite=overwrite,
        metrics=metrics,
        drift=drift,
    )
    for path in written:
        console.info(f"wrote {path}")
    for path in written:
        if path.suffix == ".md" and path.name != "README.md":
            console.out.print(path.read_text(), markup=False, highlight=False)


def results_folder(results: str) -> Path:
    """A local folder as given; a store URL's result files mirrored into a local folder first."""
    from dcbench.store import Store, is_url, mirror_dir

    if not is_url(results):
        return Path(results)
    store = Store(results)
    folder = store.sync_results(mirror_dir(store.url))
    console.info(f"{store.url}: result files mirrored into {folder}")
    return folder


def _write_extras(results: Path, *, html: Path | None, latex: Path | None, plots: bool, drift) -> None:
    """The site (--html) and the LaTeX tables (--latex): the paths written go to stdout."""
    if html is not None:
        from dcbench.leaderboard.html_site import build_site

        index = build_site(results, html, plots=plots, drift=drift)
        console.info(f"wrote the site {index.parent}")
        console.out.print(str(index), highlight=False)
    if latex is not None:
        from dcbench.leaderboard.latex import write_latex

        for path in write_latex(results, latex, drift):
            console.out.print(str(path), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)
