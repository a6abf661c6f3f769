"""``dcbench decompose``: the label decomposition of a results folder (``docs/label-decomposition.md``)."""

from __future__ import annotations

from pathlib import Path

import typer

from dcbench.cli import console
from dcbench.errors import ConfigError


def decompose(
    results: str = typer.Argument(
        ..., metavar="RESULTS", help="Results folder (searched for result.json), or the store URL a matrix ran into."
    ),
    method: list[str] = typer.Option(
        [], "--method", "-m", help="Only this method beside Random (repeatable; default: every method found)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write the Markdown to this file."),
) -> None:
    """Each method under stored, teacher and distilled labels against Random in the same mode, seed by seed, and
    how much of its score the labels and the distillation account for (HLR, IOR, LRS), per table and ratio.
    Stale results are left out and counted."""
    from dcbench.cli.leaderboard_cmd import results_folder
    from dcbench.harness.staleness import drift_check
    from dcbench.io import atomic_write_text
    from dcbench.leaderboard.collect import load_results
    from dcbench.leaderboard.decomposition import decompose_tables, to_markdown

    found = decompose_tables(load_results(results_folder(results), drift_check()), tuple(method))
    if not found:
        missing = f" of {', '.join(method)}" if method else ""
        raise ConfigError(f"{results}: no table has Random and another method{missing} at one ratio to decompose")
    text = "\n\n".join("\n".join(to_markdown(title, figures)) for title, figures in found) + "\n"
    if out is not None:
        atomic_write_text(out, text)
        console.info(f"wrote {out}")
    console.out.print(text, markup=False, highlight=False, end="")


def register(app: typer.Typer) -> None:
    app.command("decompose")(decompose)
