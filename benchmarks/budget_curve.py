"""mAP against the student's optimiser steps: how long a condensed set must be trained before its score means
something (the protocol's ``min_iterations``), and how far the full set is from its plateau (``epochs``).

    python benchmarks/budget_curve.py                                   # Random 1 % and the full set, shapes, yolo11n
    python benchmarks/budget_curve.py --steps 300 750 1500 3000 --seeds 0 1 2 --full-epochs 30 60 --full-seeds 0 \
        --reuse leaderboards/results/shapes-quick --plot budget-curve.png

Every point is a real cell of the harness (``run_cell``) with the protocol's step floor (or epochs) overridden,
written as one result.json under ``--out``: a killed curve resumes, and the points are ordinary results that
carry their protocol. ``--reuse`` takes the points at the protocol's own settings from a results folder (they are
reference cells). A step is one training batch, what ``min_iterations`` counts (Ultralytics accumulates gradients
to a nominal batch of 64, so a 10-image batch makes an optimiser update every 6 steps); the full set's epochs are
raised to the step floor like any set's. Printed: one row per point with the steps the student took, mAP, AP50
and the seconds, then mean and sample std per (set, steps) over the seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path


def _point(method: str, ratio: float, seed: int, protocol, args, out: Path) -> dict:
    from dcbench.data.spec import dataset_identity
    from dcbench.harness.cell import run_cell
    from dcbench.harness.identity import CellConfig
    from dcbench.harness.staleness import read_result

    cell = CellConfig(
        method, args.detector, ratio, seed, protocol, dataset=args.dataset, dataset_id=dataset_identity(args.dataset)
    )
    # a point at the protocol's own settings is an ordinary reference cell: take it from --reuse when it is there
    result = read_result(out / cell.cell_name()) or (args.reuse and read_result(args.reuse / cell.cell_name()))
    if not result:
        result = run_cell(cell, out, device=args.device)
    student = result.get("student") or {}
    images = int(result["budget"])
    epochs = int(student.get("epochs") or result["teacher"]["checkpoint_meta"]["epochs"])
    steps = epochs * math.ceil(images / min(protocol.batch, images))
    seconds = result["timings"].get("train_s")
    return {
        "method": method,
        "images": images,
        "seed": seed,
        "steps": steps,
        "mAP": result["metrics"]["mAP"],
        "AP50": result["metrics"]["AP50"],
        "train_s": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--detector", default="yolo11n")
    ap.add_argument("--protocol", default="quick")
    ap.add_argument("--ratio", type=float, default=0.01)
    ap.add_argument("--steps", type=int, nargs="*", default=[300, 750, 1500, 3000], help="student step floors")
    ap.add_argument("--full-epochs", type=int, nargs="*", default=[10, 30, 60], help="epochs of the full set")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds of the Random points")
    ap.add_argument("--full-seeds", type=int, nargs="*", help="seeds of the full-set points (default: --seeds)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/budget-curve"))
    ap.add_argument("--reuse", type=Path, help="a results folder whose cells stand for the unmodified points")
    ap.add_argument("--nominal-batch", type=int, help="images per optimiser update (the protocol's nominal_batch)")
    ap.add_argument("--plot", type=Path, help="also draw mAP against steps (mean and each seed) to this PNG")
    args = ap.parse_args()

    from dcbench.protocols import get_protocol

    base = get_protocol(args.protocol).with_overrides(nominal_batch=args.nominal_batch)
    rows = []
    for seed in args.seeds:
        for steps in args.steps:
            rows.append(_point("random", args.ratio, seed, base.with_overrides(min_iterations=steps), args, args.out))
            print(json.dumps(rows[-1]), flush=True)
    for seed in args.seeds if args.full_seeds is None else args.full_seeds:
        for epochs in args.full_epochs:
            rows.append(_point("full", 1.0, seed, base.with_overrides(epochs=epochs), args, args.out))
            print(json.dumps(rows[-1]), flush=True)
    _report(rows)
    if args.plot:
        _plot(rows, args.plot, f"{args.dataset}, {args.detector}, {args.protocol}")


def _groups(rows: list[dict]) -> dict[tuple[str, int, int], list[dict]]:
    groups: dict[tuple[str, int, int], list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["method"], r["steps"], r["seed"])):
        groups.setdefault((r["method"], r["images"], r["steps"]), []).append(r)
    return groups


def _report(rows: list[dict]) -> None:
    """Each point, then each (set, steps) over its seeds: the mean and the sample std that decide the rule."""
    print(f"\n{'method':8s} {'images':>7s} {'seed':>5s} {'steps':>7s} {'mAP':>7s} {'AP50':>7s} {'train s':>8s}")
    for r in sorted(rows, key=lambda r: (r["method"], r["seed"], r["steps"])):
        print(
            f"{r['method']:8s} {r['images']:7d} {r['seed']:5d} {r['steps']:7d} {r['mAP']:7.2f} {r['AP50']:7.2f} "
            f"{r['train_s'] or 0:8.0f}"
        )
    print(f"\n{'method':8s} {'images':>7s} {'steps':>7s} {'seeds':>5s} {'mAP mean':>9s} {'std':>6s} {'train s':>8s}")
    for (method, images, steps), group in _groups(rows).items():
        maps = [r["mAP"] for r in group]
        std = statistics.stdev(maps) if len(maps) > 1 else math.nan
        train = statistics.mean(r["train_s"] or 0 for r in group)
        print(f"{method:8s} {images:7d} {steps:7d} {len(maps):5d} {statistics.mean(maps):9.2f} {std:6.2f} {train:8.0f}")


def _plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for colour, method in (("C0", "random"), ("C3", "full")):
        groups = {k: v for k, v in _groups(rows).items() if k[0] == method}
        if not groups:
            continue
        images = next(iter(groups))[1]
        steps = [k[2] for k in groups]
        ax.plot(
            steps,
            [statistics.mean(r["mAP"] for r in g) for g in groups.values()],
            "-o",
            color=colour,
            label=f"{method} ({images} images), mean",
        )
        for k, g in groups.items():
            ax.scatter([k[2]] * len(g), [r["mAP"] for r in g], s=12, color=colour, alpha=0.4)
    ax.set_xscale("log")
    ax.set_xlabel("student optimiser steps (batches)")
    ax.set_ylabel("mAP (COCO, 0-100)")
    ax.set_title(f"budget curve: {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
