"""``dcbench export`` and ``dcbench import``: a condensed set to one checksummed ``.tar.gz`` with a dataset card,
and back, verified before it is used."""

from __future__ import annotations

from pathlib import Path

import typer

from dcbench.cli import console


def export_set(
    condensed: Path = typer.Argument(
        ...,
        metavar="CONDENSED_DIR",
        help="A condensed set folder (with manifest.json), or a cell's OUT/condensed/NAME.",
    ),
    archive: Path = typer.Argument(..., metavar="OUT.tar.gz", help="The archive to write (replaced if it exists)."),
) -> None:
    """Bundle a condensed set (images, COCO and YOLO annotations, manifest) with SHA256SUMS and a dataset card."""
    from dcbench.artifacts.archive import export_condensed

    path = export_condensed(condensed, archive)
    console.out.print(str(path), highlight=False)


def import_set(
    archive: Path = typer.Argument(..., metavar="ARCHIVE", help="An archive written by dcbench export."),
    dest: Path = typer.Argument(..., metavar="DEST", help="Where the set goes: a new or empty folder."),
    max_size: str | None = typer.Option(
        None,
        "--max-size",
        metavar="SIZE",
        help="The most the archive may expand to (bytes, or 500MB, 2GiB). Default: 20x the archive's size, at "
        "least 64 MiB; or DCBENCH_IMPORT_MAX_SIZE.",
    ),
) -> None:
    """Verify every entry and checksum of ARCHIVE as it is unpacked, and that the set's manifest and card tell the
    truth about it, then place the set at DEST (left as it was on any fault)."""
    from dcbench.artifacts.archive import import_archive

    path = import_archive(archive, dest, max_size=max_size)
    console.out.print(str(path), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_set)
    app.command("import")(import_set)
