"""A synthetic dataset with COCO 2017's scale and statistics, for timing dcbench at COCO size (not shipped data).

    python benchmarks/coco_scale_data.py /tmp/coco-scale                    # 118,287 train + 5,000 val images
    python benchmarks/coco_scale_data.py /tmp/coco-10k --n-train 10000 --seed 1

It writes the layout of a COCO 2017 download, so both ``coco2017:ROOT`` and ``coco:ROOT/annotations/
instances_train2017.json`` read it::

    ROOT/annotations/instances_{train,val}2017.json
    ROOT/{train,val}2017/<image id, 12 digits>.png
    ROOT/generated.json        the parameters and what came out; written last (a folder without it is incomplete)

The images are blank 1-bit greyscale PNGs whose headers carry the size written in the JSON (about 100 bytes
each): what the reader, the validator, the fingerprint, the header check and the condensed-set writer touch is
real, while nothing can train on them. Deterministic for a seed (numpy's PCG64 stream, no clock).

The statistics are approximations of COCO train2017's published figures, not measured from its files:

* images: 98 % have a long side of 640 px, the rest a long side uniform in [300, 639]; 72 % landscape, 24 %
  portrait, 4 % square. The short side of a non-square image is 480 (45 %), 427 (35 %), 426 (5 %), 428 (4 %),
  425 (2 %), 424 (1 %), else uniform in [240, long side - 1] (8 %);
* boxes: 1 % of the images have none; the others 1 + a negative binomial count (mean 6.37, dispersion 2, at
  most 99 in all), 7.3 per image on average (COCO: 860,001 on 118,287 images);
* classes: COCO's 80 names and sparse ids 1..90; person 30 % of the boxes, the 79 others a geometric tail whose
  rarest class is 220 times rarer than the most common (COCO: car 5.1 %, hair drier 0.02 %);
* box sizes: 41 % small (area < 32^2), 34 % medium, 24 % large (COCO's figures), the area log-uniform within its
  class (small from 4^2, large up to 60 % of the image), the aspect ratio log-normal (sigma 0.6) clipped to fit;
* crowd: 1 % of the boxes have ``iscrowd = 1``;
* masks: every box has a segmentation, a polygon of 8-48 points (26 on average) or, for crowd boxes, a 100-run RLE,
  so that the JSON weighs about what COCO's does (448 MB at full size) and its reader parses as much
  (``--no-masks`` leaves them out).
"""

from __future__ import annotations

import argparse
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np

COCO_TRAIN_IMAGES = 118_287
COCO_VAL_IMAGES = 5_000
MARKER = "generated.json"
GENERATOR_VERSION = 2  # bump when the output changes for the same parameters

# COCO's 80 detection classes with their (sparse) category ids
COCO_CLASSES = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign parking_meter "
    "bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag tie suitcase frisbee "
    "skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard tennis_racket bottle wine_glass "
    "cup fork knife spoon bowl banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair couch "
    "potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave oven toaster sink "
    "refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
).split()
COCO_IDS = (
    list(range(1, 12)) + list(range(13, 26)) + [27, 28] + list(range(31, 45)) + list(range(46, 66)) + [67, 70]
    + list(range(72, 83)) + list(range(84, 91))
)  # fmt: skip

EMPTY_FRACTION = 0.01
EXTRA_BOXES_MEAN = 6.37  # boxes beyond the first in a non-empty image: 0.99 * (1 + 6.37) = 7.3 per image
EXTRA_BOXES_DISPERSION = 2.0
MAX_BOXES = 99
PERSON_SHARE = 0.30
TAIL_RANGE = 220.0  # most common / rarest of the other 79 classes
SIZE_MIX = (0.41, 0.34, 0.25)  # small, medium, large (COCO: 41 / 34 / 24 %, the rounding goes to large)
CROWD_FRACTION = 0.01
POLYGON_POINTS = (8, 16, 24, 32, 48)
POLYGON_MIX = (0.1, 0.2, 0.3, 0.25, 0.15)
SHORT_SIDES = ((480, 0.45), (427, 0.35), (426, 0.05), (428, 0.04), (425, 0.02), (424, 0.01))  # else uniform


def class_weights() -> np.ndarray:
    """Share of the boxes per class, in COCO_CLASSES order: person 30 %, the others a geometric tail."""
    k = np.arange(len(COCO_CLASSES) - 1)
    tail = np.exp(-k * np.log(TAIL_RANGE) / (len(k) - 1))
    return np.concatenate([[PERSON_SHARE], (1 - PERSON_SHARE) * tail / tail.sum()])


def image_sizes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(width, height) arrays following the approximation in the module docstring."""
    long = np.where(rng.random(n) < 0.98, 640, rng.integers(300, 640, n))
    sides, probs = zip(*SHORT_SIDES)
    pick = rng.choice(len(sides) + 1, size=n, p=[*probs, 1 - sum(probs)])
    short = np.append(np.array(sides), 0)[pick]
    other = pick == len(sides)
    short[other] = rng.integers(240, long[other])
    short = np.minimum(short, long)
    shape = rng.choice(3, size=n, p=[0.72, 0.24, 0.04])  # landscape, portrait, square
    short[shape == 2] = long[shape == 2]
    width = np.where(shape == 1, short, long)
    height = np.where(shape == 1, long, short)
    return width.astype(np.int64), height.astype(np.int64)


def box_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    p = EXTRA_BOXES_DISPERSION / (EXTRA_BOXES_DISPERSION + EXTRA_BOXES_MEAN)
    counts = 1 + rng.negative_binomial(EXTRA_BOXES_DISPERSION, p, n)
    counts[rng.random(n) < EMPTY_FRACTION] = 0
    return np.minimum(counts, MAX_BOXES)


def boxes_for(rng: np.random.Generator, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """One (x, y, w, h) box per entry of ``width``/``height`` (the size of the image it lies in)."""
    m = len(width)
    size_class = rng.choice(3, size=m, p=SIZE_MIX)
    image_area = (width * height).astype(np.float64)
    low = np.array([4.0**2, 32.0**2, 96.0**2])[size_class]
    high = np.array([32.0**2, 96.0**2, 0.0])[size_class]
    high = np.where(size_class == 2, np.maximum(0.6 * image_area, 96.0**2 * 1.01), high)
    area = np.exp(rng.uniform(np.log(low), np.log(high)))
    aspect = np.exp(rng.normal(0.0, 0.6, m))  # w / h
    w = np.minimum(np.sqrt(area * aspect), width)
    h = np.minimum(area / w, height)
    w = np.minimum(area / h, width)  # a box clipped in height widens to keep its area, within the image
    x = rng.uniform(0, 1, m) * (width - w)
    y = rng.uniform(0, 1, m) * (height - h)
    return np.round(np.stack([x, y, w, h], axis=1), 2)


def segmentations(rng: np.random.Generator, boxes: np.ndarray, crowd: np.ndarray, sizes: np.ndarray) -> list:
    """A mask for every box, as COCO has one: a polygon of 8-48 points (26 on average) around the box's centre and
    inside it, or for a crowd box an uncompressed RLE of 100 runs. dcbench never reads masks; its reader parses
    them all the same, and they are most of COCO's JSON."""
    out: list = [None] * len(boxes)
    points = rng.choice(np.array(POLYGON_POINTS), size=len(boxes), p=POLYGON_MIX)
    for k in POLYGON_POINTS:
        rows = np.flatnonzero((points == k) & ~crowd)
        if not len(rows):
            continue
        x, y, w, h = (boxes[rows, j : j + 1] for j in range(4))
        angle = np.linspace(0, 2 * np.pi, k, endpoint=False) + rng.uniform(0, 0.1, (len(rows), k))
        reach = rng.uniform(0.35, 0.5, (len(rows), k))
        xy = np.stack([x + w / 2 + np.cos(angle) * reach * w, y + h / 2 + np.sin(angle) * reach * h], axis=2)
        for row, polygon in zip(rows.tolist(), np.round(xy.reshape(len(rows), 2 * k), 2).tolist()):
            out[row] = [polygon]
    for row in np.flatnonzero(crowd).tolist():
        h, w = sizes[row]
        runs = rng.multinomial(int(h * w), np.full(100, 0.01)).tolist()
        out[row] = {"counts": runs, "size": [int(h), int(w)]}
    return out


def split_json(rng: np.random.Generator, n: int, first_id: int, masks: bool = True) -> dict:
    """A COCO instances dict of ``n`` images (ids ``first_id``.. with random gaps, as COCO's ids have), with masks
    unless ``masks`` is False."""
    ids = first_id + np.cumsum(rng.integers(1, 6, n))
    width, height = image_sizes(rng, n)
    counts = box_counts(rng, n)
    owner = np.repeat(np.arange(n), counts)
    boxes = boxes_for(rng, width[owner], height[owner])
    labels = rng.choice(len(COCO_CLASSES), size=len(owner), p=class_weights())
    crowd = rng.random(len(owner)) < CROWD_FRACTION
    images = [
        {"id": int(i), "file_name": f"{int(i):012d}.png", "width": int(w), "height": int(h)}
        for i, w, h in zip(ids.tolist(), width.tolist(), height.tolist())
    ]
    cat_ids = np.array(COCO_IDS)[labels].tolist()
    image_ids = ids[owner].tolist()
    annotations = [
        {"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": round(b[2] * b[3], 2), "iscrowd": int(z)}
        for k, (i, c, b, z) in enumerate(zip(image_ids, cat_ids, boxes.tolist(), crowd.tolist()))
    ]
    if masks:
        sizes = np.stack([height[owner], width[owner]], axis=1)
        for ann, mask in zip(annotations, segmentations(rng, boxes, crowd, sizes)):
            ann["segmentation"] = mask
    categories = [
        {"id": i, "name": c.replace("_", " "), "supercategory": "object"} for i, c in zip(COCO_IDS, COCO_CLASSES)
    ]
    return {"images": images, "annotations": annotations, "categories": categories}


def blank_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG (all black) of this size: signature, IHDR, one IDAT, IEND (PNG spec, ISO 15948)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale, no interlace
    rows = (b"\x00" + bytes((width + 7) // 8)) * height  # each row: filter type 0, then the packed bits
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def write_images(folder: Path, images: list[dict]) -> int:
    """Every image of the split as a blank PNG of its size; returns the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    encoded: dict[tuple[int, int], bytes] = {}  # a few hundred distinct sizes: encode each once
    total = 0
    for im in images:
        size = (im["width"], im["height"])
        data = encoded.get(size)
        if data is None:
            data = encoded[size] = blank_png(*size)
        (folder / im["file_name"]).write_bytes(data)
        total += len(data)
    return total


def describe(data: dict) -> dict:
    """What the generated split holds, to compare with the targets above."""
    anns = data["annotations"]
    n = len(data["images"])
    area = np.array([a["area"] for a in anns]) if anns else np.zeros(0)
    person = sum(1 for a in anns if a["category_id"] == 1)
    with_boxes = len({a["image_id"] for a in anns})
    long640 = sum(1 for im in data["images"] if max(im["width"], im["height"]) == 640)
    portrait = sum(1 for im in data["images"] if im["height"] > im["width"])
    return {
        "images": n,
        "boxes": len(anns),
        "boxes_per_image": round(len(anns) / max(n, 1), 3),
        "images_without_boxes": n - with_boxes,
        "person_share": round(person / max(len(anns), 1), 4),
        "small_medium_large": [round(float(v), 4) for v in np.histogram(area, [0, 32**2, 96**2, np.inf])[0] / len(area)]
        if len(area)
        else [],
        "crowd_share": round(sum(a["iscrowd"] for a in anns) / max(len(anns), 1), 4),
        "long_side_640": round(long640 / max(n, 1), 4),
        "portrait": round(portrait / max(n, 1), 4),
        "distinct_sizes": len({(im["width"], im["height"]) for im in data["images"]}),
    }


def generate(
    root: str | Path, n_train: int = COCO_TRAIN_IMAGES, n_val: int = COCO_VAL_IMAGES, seed: int = 0, masks: bool = True
) -> dict:
    """Write the dataset under ``root`` (see the module docstring) unless a complete one with these parameters is
    there already; returns the marker's content (parameters, per-split statistics and seconds taken)."""
    root = Path(root)
    params = {"n_train": n_train, "n_val": n_val, "seed": seed, "masks": masks, "version": GENERATOR_VERSION}
    marker = root / MARKER
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("params") == params:
            return done
    marker.unlink(missing_ok=True)
    rng = np.random.default_rng([seed, GENERATOR_VERSION])
    record: dict = {"params": params, "splits": {}}
    first_id = 0
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        t0 = time.perf_counter()
        data = split_json(rng, n, first_id, masks)
        first_id = data["images"][-1]["id"] + 1 if data["images"] else first_id
        t1 = time.perf_counter()
        ann = root / "annotations" / f"instances_{split}.json"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(json.dumps(data, separators=(",", ":")))
        t2 = time.perf_counter()
        image_bytes = write_images(root / split, data["images"])
        t3 = time.perf_counter()
        record["splits"][split] = {
            **describe(data),
            "json_mb": round(ann.stat().st_size / 2**20, 1),
            "image_bytes_mean": round(image_bytes / max(n, 1)),
            "seconds": {"sample": round(t1 - t0, 2), "json": round(t2 - t1, 2), "images": round(t3 - t2, 2)},
        }
    marker.write_text(json.dumps(record, indent=2) + "\n")  # last: its presence means complete
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--n-train", type=int, default=COCO_TRAIN_IMAGES)
    ap.add_argument("--n-val", type=int, default=COCO_VAL_IMAGES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-masks", action="store_true", help="no segmentation (a JSON a quarter of COCO's weight)")
    args = ap.parse_args()
    print(json.dumps(generate(args.root, args.n_train, args.n_val, args.seed, not args.no_masks), indent=2))


if __name__ == "__main__":
    main()
