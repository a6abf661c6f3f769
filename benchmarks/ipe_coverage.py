"""How much of what a PatchExpand canvas shows carries a box: DCOD's IPE layout without any forging.

    python benchmarks/ipe_coverage.py                                   # shapes pool, 160 px, DCOD's defaults
    python benchmarks/ipe_coverage.py --dataset voc:../shared/data/bccd/BCCD --imgsz 160
    python benchmarks/ipe_coverage.py --fit rescale

A ``crop`` patch shows a window of its source at native scale, so objects larger than the patch are cut; a cut
object keeps its (clipped) box only while ``ipe_min_visible`` of it shows. What is left is visible object without a
label: the student is taught that it is background. This lays out canvases exactly as the forge does (the same
random sources and windows, no detector, no optimisation) and prints, per stage k, the objects each canvas shows,
those labelled, those shown without a box, and the share of visible object area that has no box.
"""

from __future__ import annotations

import argparse

import numpy as np

from dcbench.data.spec import load_dataset, resolve_train_test
from dcbench.methods.dcod.config import DCODConfig
from dcbench.methods.dcod.ipe import parse_schedule, place_boxes, plan_views
from dcbench.methods.dcod.method import load_source


def stage_counts(sources: list, views: dict, k: int, min_visible: float) -> np.ndarray:
    """(objects shown, labelled, shown without a box, visible area, visible area without a box) of one canvas."""
    out = np.zeros(5)
    for j in range(k * k):
        boxes, view = sources[j].boxes, views[(j, k)]
        placed, shown = place_boxes(boxes, view, 0.0)  # every object that shows at all
        kept = place_boxes(boxes, view, min_visible)[1]
        area = (placed[:, 2] - placed[:, 0]) * (placed[:, 3] - placed[:, 1])
        bare = (~kept)[shown]
        out += [len(placed), int(kept.sum()), int(bare.sum()), float(area.sum()), float(area[bare].sum())]
    return out


def main() -> None:
    defaults = DCODConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="shapes:?n_train=5000")
    ap.add_argument("--imgsz", type=int, default=160, help="canvas side in pixels (quick: 160, paper: 512)")
    ap.add_argument("--canvases", type=int, default=50)
    ap.add_argument("--schedule", default=defaults.ipe_schedule)
    ap.add_argument("--fit", default=defaults.ipe_fit, choices=("crop", "rescale"))
    ap.add_argument("--min-visible", type=float, default=defaults.ipe_min_visible)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    train = resolve_train_test(load_dataset(args.dataset), None).train
    ks = [k for k, _ in parse_schedule(args.schedule)]
    rng = np.random.default_rng(args.seed)
    totals = {k: np.zeros(5) for k in ks}
    for _ in range(args.canvases):
        picks = rng.choice(len(train), size=ks[-1] ** 2, replace=False)
        sources = [load_source(train, int(i), args.imgsz) for i in picks]
        views = plan_views(lambda j, s=sources: s[j].boxes, ks, args.imgsz, args.fit)
        for k in ks:
            totals[k] += stage_counts(sources, views, k, args.min_visible)
    print(
        f"{args.dataset}, {len(train)} train images; {args.canvases} canvases of {args.imgsz} px, fit={args.fit}, "
        f"min_visible={args.min_visible}, schedule {args.schedule}"
    )
    print(f"{'k':>3} {'patch px':>8} {'shown/canvas':>12} {'labelled':>9} {'no box':>7} {'area w/o box':>13}")
    for k in ks:
        shown, kept, dropped, area, bare = totals[k] / args.canvases
        print(
            f"{k:>3} {args.imgsz // k:>8} {shown:>12.1f} {kept:>9.1f} {dropped:>7.1f} {bare / max(area, 1e-9):>12.1%}"
        )


if __name__ == "__main__":
    main()
