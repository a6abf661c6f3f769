"""mAP against the student's optimiser steps: how long a condensed set must be trained before its score means
something (the protocol's ``min_iterations``), and how far the full set is from its plateau (``epochs``).

    python benchmarks/budget_curve.py                                   # Random 1 % and the full set, shapes, yolo11n
    python benchmarks/budget_curve.py --steps 300 750 1500 3000 --full-epochs 10 30 60 --seeds 0 1 \
        --reuse leaderboards/results/shapes-quick     # the points at `quick`'s own settings are reference cells

Every point is a real cell of the harness (``run_cell``) with the protocol's step floor (or epochs) overridden,
written as one result.json under ``--out``: a killed curve resumes, and the points are ordinary results that
carry their protocol. Printed: one row per point with the steps the student took, mAP, AP50 and the seconds.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def _point(method: str, ratio: float, seed: int, protocol, args, out: Path) -> dict:
    from dcbench.data.spec import dataset_identity
    from dcbench.harness.cell import CellConfig, read_result, run_cell

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
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/budget-curve"))
    ap.add_argument("--reuse", type=Path, help="a results folder whose cells stand for the unmodified points")
    args = ap.parse_args()

    from dcbench.protocols import get_protocol

    base = get_protocol(args.protocol)
    rows = []
    for seed in args.seeds:
        for steps in args.steps:
            rows.append(_point("random", args.ratio, seed, base.with_overrides(min_iterations=steps), args, args.out))
            print(json.dumps(rows[-1]), flush=True)
        for epochs in args.full_epochs:
            rows.append(_point("full", 1.0, seed, base.with_overrides(epochs=epochs), args, args.out))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'method':8s} {'images':>7s} {'seed':>5s} {'steps':>7s} {'mAP':>7s} {'AP50':>7s} {'train s':>8s}")
    for r in sorted(rows, key=lambda r: (r["method"], r["seed"], r["steps"])):
        print(
            f"{r['method']:8s} {r['images']:7d} {r['seed']:5d} {r['steps']:7d} {r['mAP']:7.2f} {r['AP50']:7.2f} "
            f"{r['train_s'] or 0:8.0f}"
        )


if __name__ == "__main__":
    main()
