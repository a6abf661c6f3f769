"""``dcbench data``: load and validate datasets."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from dcbench.cli import console

app = typer.Typer(help="Inspect and validate datasets.", no_args_is_help=True)


def box_scale(ds) -> dict:
    """Box side (sqrt of the area) in pixels and relative to the image's long side (what survives letterboxing):
    10th percentile, median, 90th. Shows at a glance whether a condensed set's objects have the scale of the
    test set's (DCOD's 3 x 3 PatchExpand shrinks them threefold)."""
    import numpy as np

    px, rel = [], []
    for im in ds.images:
        if im.n_boxes:
            side = np.sqrt((im.boxes[:, 2] - im.boxes[:, 0]) * (im.boxes[:, 3] - im.boxes[:, 1]))
            px.append(side)
            rel.append(side / max(im.width, im.height))
    if not px:
        return {}
    px_all, rel_all = np.concatenate(px), np.concatenate(rel)
    q = (10, 50, 90)
    return {
        "box_side_px": dict(zip(("p10", "median", "p90"), np.round(np.percentile(px_all, q), 1).tolist())),
        "box_side_relative": dict(zip(("p10", "median", "p90"), np.round(np.percentile(rel_all, q), 3).tolist())),
    }


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
        **box_scale(ds),
    }


@app.command("check")
def check(
    spec: str = typer.Argument("shapes", help="Dataset spec: NAME, or voc:DIR, coco:FILE.json, yolo:DIR."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    headers: bool = typer.Option(
        True, "--headers/--no-headers", help="Open every image header (catches unreadable files)."
    ),
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
    for key in (
        "images",
        "classes",
        "boxes",
        "ignored_boxes",
        "background_images",
        "dropped_zero_size",
        "clipped",
        "size_mismatch",
    ):
        table.add_row(key.replace("_", " "), str(summary[key]))
    table.add_row("splits", ", ".join(f"{k} {v}" for k, v in summary["splits"].items()) or "none")
    for key, unit in (("box_side_px", "px"), ("box_side_relative", "of the long side")):
        if key in summary:
            p = summary[key]
            table.add_row(key.replace("_", " "), f"p10 {p['p10']:g}, median {p['median']:g}, p90 {p['p90']:g} ({unit})")
    console.out.print(table)
    per_class = Table("class", "boxes", title="per class", title_justify="left")
    for name, n in summary["per_class"].items():
        per_class.add_row(name, str(n))
    console.out.print(per_class)
