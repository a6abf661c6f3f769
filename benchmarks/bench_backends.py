"""Seconds per training iteration of each detector backend, at the smoke and quick protocols' image size and batch.

    python benchmarks/bench_backends.py                        # every installed backend, CPU
    python benchmarks/bench_backends.py --detectors yolov3-tiny faster-rcnn --device cuda

Each backend first trains once untimed (imports and one-time set-up), then twice on generated data for one epoch,
of ``short`` and ``long`` iterations; the time per iteration is the difference divided by the extra iterations,
so model building and data writing (fixed costs) are left out. Every run goes through the backend's real
``train``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

DEFAULT = [
    "yolov3-tiny",
    "yolov3",
    "torchvision:fasterrcnn_mobilenet_v3_large_fpn",
    "torchvision:fasterrcnn_resnet50_fpn",
    "faster-rcnn",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detectors", nargs="*", default=DEFAULT)
    ap.add_argument("--protocols", nargs="*", default=["smoke", "quick"])
    ap.add_argument("--short", type=int, default=2)
    ap.add_argument("--long", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from dcbench.data.shapes import ShapesConfig, shapes_dataset
    from dcbench.errors import DcbenchError
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    print(f"{'detector':<48} {'protocol':<8} {'imgsz':>5} {'batch':>5} {'s / iteration':>14}")
    for spec in args.detectors:
        try:
            backend = make_detector(spec)
        except DcbenchError as exc:
            print(f"{spec:<48} skipped: {exc}")
            continue
        warm = get_protocol("smoke").with_overrides(epochs=1, min_iterations=1)
        with tempfile.TemporaryDirectory() as tmp:
            backend.train(
                shapes_dataset(
                    ShapesConfig(n_train=warm.batch, n_test=1, size=warm.imgsz, max_extent=warm.imgsz // 2)
                ).split("train"),
                protocol=warm,
                seed=0,
                workdir=Path(tmp),
                device=args.device,
            )
        for name in args.protocols:
            base = get_protocol(name)
            proto = base.with_overrides(epochs=1, min_iterations=1)
            times = {}
            for iters in (args.short, args.long):
                ds = shapes_dataset(
                    ShapesConfig(
                        n_train=proto.batch * iters, n_test=1, size=proto.imgsz, max_extent=min(44, proto.imgsz // 2)
                    )
                ).split("train")
                with tempfile.TemporaryDirectory() as tmp:
                    t = time.perf_counter()
                    backend.train(ds, protocol=proto, seed=0, workdir=Path(tmp), device=args.device)
                    times[iters] = time.perf_counter() - t
            per_it = (times[args.long] - times[args.short]) / (args.long - args.short)
            print(f"{backend.name:<48} {name:<8} {proto.imgsz:>5} {proto.batch:>5} {per_it:>14.3f}")


if __name__ == "__main__":
    main()
