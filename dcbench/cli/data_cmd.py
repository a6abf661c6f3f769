"""``dcbench data``: load and validate datasets."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from rich.text import Text

from dcbench.cli import console

app = typer.Typer(help="Inspect and validate datasets.", no_args_is_help=True, rich_markup_mode=None)


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
    decode: bool = typer.Option(
        True,
        "--decode/--no-decode",
        help="Decode every image (truncated or unreadable files, sizes that disagree with the annotation); "
        "cached, so an unchanged dataset is checked again in a moment.",
    ),
) -> None:
    """Load SPEC, validate it, decode every image, and print image, box and class counts with what was dropped or
    clipped. Exits 2 when an image is bad, after naming every one (``run`` would stop on them)."""
    from dcbench.data.spec import load_dataset
    from dcbench.data.verify import check_images
    from dcbench.progress import Reporter

    ds = load_dataset(spec)
    verdict = check_images(ds, reporter=Reporter(console=console.err)) if decode else None
    summary = dataset_summary(ds)
    if verdict is not None:
        summary["size_mismatch"] = sum("annotated size" in b.problem for b in verdict.bad)
        summary["image_check"] = verdict.as_dict()
    for note in ds.report.notes:
        console.warn(note)
    for bad in verdict.bad if verdict is not None else []:
        console.error(f"{bad.file}: {bad.problem}")
    if json_out:
        console.out.print_json(json.dumps(summary))
    else:
        _print_summary(summary)
    if verdict is not None and verdict.bad:
        raise typer.Exit(2)


def _print_summary(summary: dict) -> None:
    table = Table(title=str(summary["dataset"]), title_justify="left", show_header=False)
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
    if "image_check" in summary:
        check = summary["image_check"]
        cached = check["checked"] - check["decoded"]
        table.add_row("bad images", str(len(check["bad"])))
        table.add_row("decode check", f"{check['checked']} images in {check['seconds']:.2f} s ({cached} cached)")
    table.add_row("splits", ", ".join(f"{k} {v}" for k, v in summary["splits"].items()) or "none")
    for key, unit in (("box_side_px", "px"), ("box_side_relative", "of the long side")):
        if key in summary:
            p = summary[key]
            table.add_row(key.replace("_", " "), f"p10 {p['p10']:g}, median {p['median']:g}, p90 {p['p90']:g} ({unit})")
    console.out.print(table)
    per_class = Table("class", "boxes", title="per class", title_justify="left")
    for name, n in summary["per_class"].items():
        per_class.add_row(Text(name), str(n))  # a class name is data: never read as markup
    console.out.print(per_class)
