"""``dcbench show``: a contact sheet of a condensed set, each image with its boxes and class names."""

from __future__ import annotations

from pathlib import Path

import typer

from dcbench.cli import console

PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
]


def contact_sheet(dataset, *, columns: int = 8, tile: int = 192, limit: int = 64):
    """A PIL image: up to ``limit`` images of ``dataset`` as ``tile``-pixel squares with boxes and labels."""
    from PIL import Image, ImageDraw, ImageFont

    from dcbench.data.images import open_rgb

    images = dataset.images[:limit]
    columns = max(1, min(columns, len(images)))
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * tile, rows * tile), (255, 255, 255))
    font = ImageFont.load_default()
    for n, im in enumerate(images):
        rgb = open_rgb(im.file)
        scale = tile / max(rgb.width, rgb.height)
        src = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))))
        draw = ImageDraw.Draw(src)
        for (x1, y1, x2, y2), label in zip(im.boxes.tolist(), im.labels.tolist()):
            colour = PALETTE[label % len(PALETTE)]
            box = [x1 * scale, y1 * scale, x2 * scale, y2 * scale]
            draw.rectangle(box, outline=colour, width=1)
            draw.text((box[0] + 1, max(0, box[1] - 10)), dataset.categories[label], fill=colour, font=font)
        sheet.paste(src, ((n % columns) * tile, (n // columns) * tile))
    return sheet


def show(
    condensed: Path = typer.Argument(
        ..., help="A condensed set folder (with manifest.json), or a cell's OUT/condensed/<name>/ that holds it."
    ),
    out: Path = typer.Option(Path("grid.png"), "--out", "-o", help="PNG file to write."),
    columns: int = typer.Option(8, "--columns", help="Images per row."),
    tile: int = typer.Option(192, "--tile", help="Tile size in pixels."),
    limit: int = typer.Option(64, "--limit", help="At most this many images."),
) -> None:
    """Draw a contact sheet of a condensed set with its boxes and class names."""
    from dcbench.artifacts.locate import require_condensed_dir
    from dcbench.condensed import load_condensed
    from dcbench.io import atomic_write_bytes

    cs = load_condensed(require_condensed_dir(condensed))  # either folder, as eval and export take
    sheet = contact_sheet(cs.dataset, columns=columns, tile=tile, limit=limit)
    import io

    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    console.info(f"{out}: {min(limit, len(cs.dataset))} of {len(cs.dataset)} images ({cs.manifest.get('method')})")


def register(app: typer.Typer) -> None:
    app.command("show")(show)
