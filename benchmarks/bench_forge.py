"""DCOD Forge cost per iteration against its floor: one bare forward+backward of the teacher on the same batch.

    python benchmarks/bench_forge.py                          # yolov3-tiny, 128 px, batch 16, CPU
    python benchmarks/bench_forge.py --detector yolov3-spp --imgsz 512 --device cuda --teacher PATH

Without ``--teacher`` a teacher is trained for one epoch on a small generated set (its quality does not change
the cost). Printed: seconds per iteration of the bare teacher step and of Forge with FBD/IPE on and off, and
the overhead as a ratio to the floor, of the mean iteration and of the median one (the steady step).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="yolov3-tiny")
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--teacher", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from dcbench.api import Checkpoint
    from dcbench.data.shapes import ShapesConfig, shapes_dataset
    from dcbench.harness.identity import make_detector
    from dcbench.methods.dcod.config import DCODConfig
    from dcbench.methods.dcod.forge import Slot, forge
    from dcbench.methods.dcod.method import load_source
    from dcbench.protocols import get_protocol

    work = Path(tempfile.mkdtemp(prefix="bench-forge-"))
    backend = make_detector(args.detector)
    protocol = get_protocol("smoke").with_overrides(imgsz=args.imgsz)
    ds = shapes_dataset(ShapesConfig(n_train=max(64, args.batch * 9), n_test=8, size=128)).split("train")
    if args.teacher:
        ckpt = Checkpoint(backend.name, args.teacher)
    else:
        ckpt = backend.train(
            ds.subset(range(64)), protocol=protocol, seed=0, workdir=work / "teacher", device=args.device
        )
    target = backend.inversion_target(ckpt, protocol=protocol, device=args.device)

    sources = [load_source(ds, i, args.imgsz) for i in range(args.batch)]
    x = torch.stack([s.pixels for s in sources]).to(args.device).requires_grad_(True)
    targets = [(s.boxes.to(args.device), s.labels.to(args.device)) for s in sources]

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(3):
        target.loss(x, targets).backward()
    sync()
    t = time.perf_counter()
    for _ in range(args.iterations):
        x.grad = None
        target.loss(x, targets).backward()
    sync()
    floor = (time.perf_counter() - t) / args.iterations

    print(
        f"detector {backend.name}, {args.imgsz} px, batch {args.batch}, device {args.device}, "
        f"{args.iterations} iterations, {torch.get_num_threads()} threads"
    )
    # the mean includes PatchExpand's two re-layouts (new source images decoded), spread over this short run's
    # iterations; the median is the steady step, what the thousands of iterations of a real forge cost
    print(f"{'configuration':<30} {'s / iteration':>14} {'x floor':>8} {'median x floor':>15}")
    print(f"{'teacher forward+backward':<30} {floor:>14.4f} {1.0:>8.2f} {1.0:>15.2f}")
    variants = {
        "forge FBD+IPE (default)": {},
        "forge FBD+IPE, ipe_fit=crop": {"ipe_fit": "crop"},
        "forge no FBD": {"fbd": False},
        "forge no IPE": {"ipe": False},
        "forge plain inversion": {"fbd": False, "ipe": False},
    }
    for name, opts in variants.items():
        cfg = DCODConfig(iterations=args.iterations, forge_batch=args.batch, **opts).resolved(protocol)
        slots = [
            Slot([lambda i=i, j=j: load_source(ds, (i * 9 + j) % len(ds), args.imgsz) for j in range(9)])
            for i in range(args.batch)
        ]
        result = forge(slots, target, cfg, seed=0, workdir=work / name.replace(" ", "_"))
        median = float(np.median(result.iteration_seconds))
        ratio = result.seconds_per_iteration / floor
        print(f"{name:<30} {result.seconds_per_iteration:>14.4f} {ratio:>8.2f} {median / floor:>15.2f}")


if __name__ == "__main__":
    main()
