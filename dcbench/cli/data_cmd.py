"""``dcbench data``: load and validate datasets."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from dcbench.cli import console

app = typer.Typer(help="Inspect and validate datasets.", no_args_is_help=True)


def dataset_summary(ds) -> dict:
    return {
        "dataset": ds.source or ds.name,
        "images": len(ds),
        "classes": ds.num_classes,
        "boxes": ds.n_boxes,
        "ignored_boxes": int(sum(int(im.ignore.sum()) for im in ds.images)),
        "background_images": sum(1 for im in ds.images if im.n_boxes == 0),
        "splits": {k: len(v) for k, v in ds.splits.items()},
        "per_class": ds.class_counts(),
        "dropped_zero_size": ds.report.dropped_zero_size,
        "clipped": ds.report.clipped,
        "size_mismatch": ds.report.size_mismatch,
        "notes": ds.report.notes,
    }


@app.command("check")
def check(
    spec: str = typer.Argument("shapes", help="Dataset spec: NAME, or voc:DIR, coco:FILE.json, yolo:DIR."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    headers: bool = typer.Option(True, "--headers/--no-headers", help="Open every image header (catches unreadable files)."),
) -> None:
    """Load SPEC, validate it, and print image, box and class counts with what was dropped or clipped."""
    from dcbench.data.spec import load_dataset
    from dcbench.data.validate import read_image_size

    ds = load_dataset(spec)
    if headers:
        for im in ds.images:
            w, h = read_image_size(im.file)
            if (w, h) != (im.width, im.height):
                ds.report.size_mismatch += 1
                ds.report.note(f"{im.file}: annotated size {im.width}x{im.height}, image is {w}x{h}")
    summary = dataset_summary(ds)
    for note in ds.report.notes:
        console.warn(note)
    if json_out:
        console.out.print_json(json.dumps(summary))
        return
    table = Table(title=f"{summary['dataset']}", title_justify="left", show_header=False)
    for key in ("images", "classes", "boxes", "ignored_boxes", "background_images", "dropped_zero_size", "clipped", "size_mismatch"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    table.add_row("splits", ", ".join(f"{k} {v}" for k, v in summary["splits"].items()) or "none")
    console.out.print(table)
    per_class = Table("class", "boxes", title="per class", title_justify="left")
    for name, n in summary["per_class"].items():
        per_class.add_row(name, str(n))
    console.out.print(per_class)
