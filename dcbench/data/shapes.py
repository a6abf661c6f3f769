"""``shapes``: the built-in dataset, generated from a seed (nothing downloaded, no image in git).

Six classes told apart by shape alone -- colour, size, rotation and position are random per object -- drawn on
noisy gradient backgrounds with clutter lines, 1-6 objects per image, mostly medium objects as COCO counts them.

Version 2 (the default since dcbench 0.2) draws 160 px images with objects 32-80 px across (median box side 48 px):
the scale at which DCOD's PatchExpand is meaningful for a stride-8 detector, since a source shrunk into a 3 x 3
patch keeps its median object at 16 px, twice the finest stride. Version 1 drew 128 px images with 10-44 px objects
(median 24 px: 8 px in a 3 x 3 patch); ``shapes:?size=128&min_extent=10&max_extent=44`` draws that geometry. Each image is drawn from its own random stream (seed, split, index), so any image can be regenerated on
its own and the files are identical on every machine for a given seed and generator version.

The images are written once to the cache folder (``$DCBENCH_CACHE/datasets/shapes-<key>``) with a COCO JSON per
split, and read back through the ordinary COCO reader.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from dcbench.cache import cache_dir
from dcbench.data.coco import read_coco
from dcbench.data.model import DetectionDataset, concat
from dcbench.errors import DatasetError
from dcbench.io import os_error_at, remove_dead_partials, sha256_file, stable_hash

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2
CLASSES = ["circle", "square", "triangle", "cross", "star", "ring"]
_SPLIT_STREAM = {"train": 0, "test": 1}


@dataclass(frozen=True)
class ShapesConfig:
    seed: int = 0
    n_train: int = 1000
    n_test: int = 200
    size: int = 160
    min_objects: int = 1
    max_objects: int = 6
    min_extent: int | None = None  # object diameter in pixels; None: size // 5
    max_extent: int | None = None  # None: size // 2

    @property
    def extents(self) -> tuple[int, int]:
        return (
            self.min_extent if self.min_extent is not None else self.size // 5,
            self.max_extent if self.max_extent is not None else self.size // 2,
        )

    def key(self) -> str:
        return stable_hash({"v": GENERATOR_VERSION, **asdict(self)}, 12)

    @classmethod
    def from_options(cls, options: dict[str, str]) -> ShapesConfig:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise DatasetError(None, f"unknown shapes option(s) {', '.join(unknown)} (known: {', '.join(known)})")
        try:
            cfg = cls(**{k: int(v) for k, v in options.items()})
        except ValueError as exc:
            raise DatasetError(None, f"shapes options must be integers: {exc}") from None
        if cfg.n_train < 1 or cfg.n_test < 1 or cfg.size < 32 or not 1 <= cfg.min_objects <= cfg.max_objects:
            raise DatasetError(None, f"invalid shapes options: {cfg}")
        if not 4 <= cfg.extents[0] <= cfg.extents[1] <= cfg.size // 2:
            raise DatasetError(None, f"invalid shapes extents: need 4 <= min_extent <= max_extent <= size/2 ({cfg})")
        return cfg


def _polygon(kind: str, cx: float, cy: float, r: float, theta: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [(math.cos(a), math.sin(a)) for a in (math.pi / 4 + k * math.pi / 2 for k in range(4))]
        pts = [(x * 1.0, y * 1.0) for x, y in pts]
    elif kind == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
    elif kind == "star":
        pts = []
        for k in range(10):
            rad = 1.0 if k % 2 == 0 else 0.42
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((rad * math.cos(a), rad * math.sin(a)))
    elif kind == "cross":
        w = 0.32
        pts = [
            (-w, -1),
            (w, -1),
            (w, -w),
            (1, -w),
            (1, w),
            (w, w),
            (w, 1),
            (-w, 1),
            (-w, w),
            (-1, w),
            (-1, -w),
            (-w, -w),
        ]
    else:
        raise ValueError(kind)
    c, s = math.cos(theta), math.sin(theta)
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in pts]


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_image(cfg: ShapesConfig, split: str, index: int):
    """One image and its annotations, from its own random stream."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([cfg.seed, _SPLIT_STREAM[split], index, GENERATOR_VERSION])
    n = cfg.size
    # background: a two-colour gradient, pixel noise, and clutter lines that are not objects
    c0 = np.array(_hsv(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.8)), float)
    c1 = np.array(_hsv(rng.random(), rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.8)), float)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:n, 0:n] / max(n - 1, 1)
    t = np.clip(0.5 + (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle), 0, 1)[..., None]
    bg = c0 * (1 - t) + c1 * t + rng.normal(0, 14, (n, n, 3))
    image = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 9))):
        p = rng.uniform(0, n, 4).tolist()
        draw.line(p, fill=_hsv(rng.random(), rng.uniform(0, 1), rng.uniform(0.2, 1)), width=int(rng.integers(1, 3)))

    boxes: list[list[float]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1))):
        for _try in range(30):
            extent = float(rng.uniform(*cfg.extents))
            r = extent / 2
            cx, cy = rng.uniform(r + 1, n - r - 1, 2)
            label = int(rng.integers(len(CLASSES)))
            kind = CLASSES[label]
            theta = float(rng.uniform(0, 2 * math.pi))
            if kind in ("circle", "ring"):
                box = [cx - r, cy - r, cx + r, cy + r]
                pts = None
            else:
                pts = _polygon(kind, cx, cy, r, theta)
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                box = [min(xs), min(ys), max(xs), max(ys)]
            if all(_iou(box, b) < 0.15 for b in boxes):
                break
        else:
            continue
        colour = _hsv(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.55, 1.0))
        if kind == "circle":
            draw.ellipse(box, fill=colour)
        elif kind == "ring":
            draw.ellipse(box, outline=colour, width=max(2, int(round(r / 2.5))))
        elif pts is not None:
            draw.polygon(pts, fill=colour)
        boxes.append([float(np.clip(v, 0, n)) for v in box])
        labels.append(label)
    return image, boxes, labels


def _generate(cfg: ShapesConfig, root: Path) -> None:
    tmp = root.with_name(f"{root.name}.partial{os.getpid()}")  # dcbench.io's naming: leftovers can be found
    remove_dead_partials(root.parent, root.name)  # what a killed generation (SIGKILL: no cleanup ran) left
    shutil.rmtree(tmp, ignore_errors=True)
    try:  # whatever ends it (Ctrl-C and a full disk included), no half-generated folder is left behind
        for split, count in (("train", cfg.n_train), ("test", cfg.n_test)):
            _generate_split(cfg, tmp, split, count)
        checksums = {
            f"{split}/{p.name}": sha256_file(p) for split in ("train", "test") for p in sorted((tmp / split).iterdir())
        }
        (tmp / "checksums.json").write_text(json.dumps(checksums, sort_keys=True))
        # written last: its presence means the folder is complete
        config = {"generator_version": GENERATOR_VERSION, **asdict(cfg)}
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        try:
            os.replace(tmp, root)
        except OSError as exc:  # another process finished first (theirs is identical), or the disk refused
            if not (root / "config.json").is_file():
                raise os_error_at(root, exc) from None
    except OSError as exc:
        raise os_error_at(root, exc) from None  # named by the folder asked for, not the partial one
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _generate_split(cfg: ShapesConfig, tmp: Path, split: str, count: int) -> None:
    (tmp / split).mkdir(parents=True)
    images: list[dict] = []
    annotations: list[dict] = []
    for k in range(count):
        image, boxes, labels = draw_image(cfg, split, k)
        name = f"{k:06d}.png"
        image.save(tmp / split / name, format="PNG", compress_level=6)
        images.append({"id": k + 1, "file_name": name, "width": cfg.size, "height": cfg.size})
        for (x1, y1, x2, y2), label in zip(boxes, labels):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": k + 1,
                    "category_id": label + 1,
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "area": round((x2 - x1) * (y2 - y1), 2),
                    "iscrowd": 0,
                }
            )
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]
    (tmp / f"{split}.json").write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))


# generated folder -> the sizes and times of its files when their checksums last matched in this process: every
# cell of a matrix loads the dataset, and a stat of each file is far cheaper than hashing it again
_VERIFIED: dict[Path, tuple] = {}


def _damaged(root: Path) -> str | None:
    """The first file of a generated dataset that differs from what was generated (a truncated image would
    otherwise be dropped by a detector's loader, and a student would train on fewer images than recorded)."""
    record = root / "checksums.json"
    if not record.is_file():
        return "checksums.json"  # generated by an older dcbench, or incomplete: cheap to make again
    digests = json.loads(record.read_text())
    files = {name: root / name for name in digests}
    stats = tuple((name, st.st_size, st.st_mtime_ns) for name, f in files.items() if f.is_file() for st in [f.stat()])
    if _VERIFIED.get(root) == stats:
        return None
    for name, digest in digests.items():
        f = root / name
        if not f.is_file() or sha256_file(f) != digest:
            return name
    _VERIFIED[root] = stats
    return None


def shapes_dataset(cfg: ShapesConfig | None = None) -> DetectionDataset:
    cfg = cfg or ShapesConfig()
    root = cache_dir("datasets") / f"shapes-{cfg.key()}"
    damaged = _damaged(root) if (root / "config.json").is_file() else None
    if damaged:
        if damaged != "checksums.json":  # no record: an older dcbench made it; quietly made again
            warnings.warn(
                f"{root / damaged}: the cached built-in dataset was damaged (its checksum differs); generated again",
                stacklevel=2,
            )
        shutil.rmtree(root, ignore_errors=True)
    if not (root / "config.json").is_file():
        log.info("generating the built-in dataset (%d + %d images) in %s", cfg.n_train, cfg.n_test, root)
        _generate(cfg, root)
    parts = {
        split: read_coco(root / f"{split}.json", images=root / split, name=f"shapes/{split}")
        for split in ("train", "test")
    }
    opts = {k: v for k, v in asdict(cfg).items() if v != getattr(ShapesConfig(), k)}
    source = "shapes" + (":?" + "&".join(f"{k}={v}" for k, v in opts.items()) if opts else "")
    return concat("shapes", parts, source=source)
