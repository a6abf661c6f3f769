"""OD3 synthesis: M canvases, each filled from its slice of the training set, screened by the observer.

Slices are independent, so canvases are filled in lockstep, ``GROUP`` at a time: image k of every slice in the
group is placed, then (when a pass is due) all of the group's canvases go to the observer in one call. Each
canvas draws from its own random stream (``rng_for(seed, 2, m)``), so the group size never changes a canvas.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcbench.api import SILENT, DetectionDataset, Reporter, letterbox, rng_for
from dcbench_od3.config import OD3Config
from dcbench_od3.crops import image_crops, largest_box_area
from dcbench_od3.observer import Observe, observer_boxes
from dcbench_od3.placement import Canvas, place_crop, plain_canvas
from dcbench_od3.screening import final_items, screen

STREAM_ORDER, STREAM_PLACE, STREAM_BACKGROUND = 1, 2, 3
GROUP = 64  # canvases filled together and sent to the observer in one call (each call has a fixed cost)
ORDER_RULE = (
    "order = rng_for(seed, 1).permutation(N); canvas m takes order[m*L:(m+1)*L] with L = N // M; "
    "the last N - M*L images of the order are not used"
)
BACKGROUND_RULE = (
    "background=image: train images ranked by fewest boxes (ties by rng_for(seed, 3).permutation), "
    "canvas m takes rank m mod N, letterboxed to the canvas"
)


class Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, key: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0


@dataclass
class CanvasResult:
    file: Path
    boxes: np.ndarray
    labels: np.ndarray
    counts: dict
    background: str | None = None  # the id of the background image, if any


@dataclass
class Run:
    """Everything one synthesis shares between its canvases."""

    train: DetectionDataset
    cfg: OD3Config  # resolved: cfg.canvas is set
    seed: int
    observe: Observe | None
    out_dir: Path
    slices: list[np.ndarray] = field(default_factory=list)
    max_area: float = 1.0
    ranking: list[int] = field(default_factory=list)
    clock: Stopwatch = field(default_factory=Stopwatch)

    @property
    def size(self) -> int:
        """The canvas side: ``cfg.canvas``, which the method resolves (from the protocol) before synthesis."""
        if self.cfg.canvas is None:
            raise ValueError("OD3's canvas size is resolved before synthesis starts")
        return self.cfg.canvas

    @property
    def observer(self) -> Observe:
        """The observer that screens and relabels: present whenever screening or observer labels are asked for."""
        if self.observe is None:
            raise ValueError("this OD3 run has no observer")
        return self.observe


def make_slices(n: int, budget: int, seed: int) -> list[np.ndarray]:
    per = n // budget
    order = rng_for(seed, STREAM_ORDER).permutation(n)
    return [order[m * per : (m + 1) * per] for m in range(budget)]


def order_digest(train: DetectionDataset, slices: list[np.ndarray]) -> str:
    """A short hash of the slices' image ids: two sets made from the same slices share it."""
    h = hashlib.sha256()
    for s in slices:
        h.update(("\x1e" + "\x1f".join(train.images[i].id for i in s)).encode())
    return h.hexdigest()[:16]


def background_ranking(train: DetectionDataset, seed: int) -> list[int]:
    # fewest boxes first: a real background's own objects are unlabelled, so the emptiest images teach the
    # fewest false negatives (the code ranks a hand-made list of COCO images by a score it does not document)
    tiebreak = rng_for(seed, STREAM_BACKGROUND).permutation(len(train))
    return sorted(range(len(train)), key=lambda i: (train.images[i].n_boxes, tiebreak[i]))


def new_canvas(run: Run, m: int) -> tuple[Canvas, str | None]:
    size = run.size
    if run.cfg.background == "plain":
        return plain_canvas(size), None
    im = run.train.images[run.ranking[m % len(run.ranking)]]
    pixels, _placement = letterbox(im.file, size)
    return Canvas(size, pixels), im.id


def screen_due(done: int, per: int, every: int, final: bool) -> bool:
    """After ``done`` of ``per`` slice images: every ``every`` images, and after the last one when ``final``."""
    return (done % every == 0 and done < per) or (done == per and final)


def screen_group(run: Run, canvases: list[Canvas]) -> None:
    todo = [c for c in canvases if c.alive()]
    if not todo:
        return
    with run.clock("screen_s"):
        dets = run.observer([c.pixels.copy() for c in todo])
        for canvas, d in zip(todo, dets):
            screen(canvas, d, run.cfg)


def finish(run: Run, canvas: Canvas, m: int, background: str | None) -> CanvasResult:
    from PIL import Image

    keep = final_items(canvas, run.cfg)
    boxes = np.stack([canvas.items[j].box for j in keep]).astype(np.float32) if keep else np.zeros((0, 4), np.float32)
    labels = np.array([canvas.items[j].label for j in keep], np.int64)
    canvas.counts["kept"] = canvas.counts["final_boxes"] = len(keep)
    file = run.out_dir / f"od3_{m:06d}.png"
    Image.fromarray(canvas.pixels).save(file, format="PNG")
    return CanvasResult(file, boxes, labels, dict(canvas.counts), background)


def fill_group(run: Run, ms: range) -> list[CanvasResult]:
    made = [new_canvas(run, m) for m in ms]
    canvases = [c for c, _bg in made]
    rngs = [rng_for(run.seed, STREAM_PLACE, m) for m in ms]
    per = len(run.slices[0])
    every = run.cfg.every(per)
    for k in range(per):
        for canvas, rng, m in zip(canvases, rngs, ms):
            for crop in image_crops(run.train.images[run.slices[m][k]], run.size, run.cfg, run.max_area):
                place_crop(canvas, crop, rng, run.cfg)
        if run.cfg.screen and screen_due(k + 1, per, every, run.cfg.screen_final):
            screen_group(run, canvases)
    return [finish(run, canvas, m, bg) for (canvas, bg), m in zip(made, ms)]


def relabel(run: Run, results: list[CanvasResult]) -> None:
    """labels=observer: the observer's boxes on each finished canvas replace the pasted ones."""
    from PIL import Image

    n_classes = len(run.train.categories)
    with run.clock("label_s"):
        for g0 in range(0, len(results), GROUP):
            part = results[g0 : g0 + GROUP]
            canvases = []
            for r in part:
                with Image.open(r.file) as im:
                    canvases.append(np.asarray(im.convert("RGB")))
            for r, dets in zip(part, run.observer(canvases)):
                boxes, labels = observer_boxes(dets, run.size, run.cfg.label_score)
                ok = (labels >= 0) & (labels < n_classes)
                r.boxes, r.labels = boxes[ok], labels[ok]
                r.counts["final_boxes"] = int(ok.sum())


def synthesise(run: Run, budget: int, reporter: Reporter | None = None) -> list[CanvasResult]:
    """Fill, screen and (optionally) relabel ``budget`` canvases; PNG files go to ``run.out_dir``."""
    run.out_dir.mkdir(parents=True, exist_ok=True)
    run.slices = make_slices(len(run.train), budget, run.seed)
    run.max_area = largest_box_area(run.train, run.size)
    run.ranking = background_ranking(run.train, run.seed) if run.cfg.background == "image" else []
    results: list[CanvasResult] = []
    with (
        (reporter or SILENT).stage(f"od3: {budget} canvases", total=budget, unit="canvas") as step,
        run.clock("synthesis_s"),
    ):
        for g0 in range(0, budget, GROUP):
            results += fill_group(run, range(g0, min(budget, g0 + GROUP)))
            step(len(results))
    if run.cfg.labels == "observer":
        relabel(run, results)
    return results
