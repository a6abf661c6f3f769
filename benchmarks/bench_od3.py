"""OD3 synthesis time, and labelled objects per OD3 canvas against per Random image.

    python benchmarks/bench_od3.py                                  # small shapes set, smoke protocol, yolov3-tiny
    python benchmarks/bench_od3.py --dataset shapes --ratio 0.01 --protocol quick --teacher PATH

Without ``--teacher`` a teacher is trained on the train split under the protocol (smoke: seconds; its quality
changes how much screening erases, not what an observer pass costs). Printed per variant: wall time of the
whole condense call, the manifest's synthesis / screening / relabelling seconds, and the boxes per canvas; then
the boxes per image of Random at the same budget and seed, the baseline every OD3 canvas is compared with.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "od3 (default)": {},
    "od3 no screening": {"screen": False},
    "od3 class-agnostic screening": {"screen_classes": "agnostic"},
    "od3 observer labels": {"labels": "observer"},
}


def teacher_for(args, train, protocol, work: Path):
    from dcbench.api import Checkpoint, Teacher
    from dcbench.harness.identity import make_detector

    backend = make_detector(args.detector)
    if args.teacher:
        ckpt = Checkpoint(backend.name, args.teacher)
    else:
        t = time.perf_counter()
        ckpt = backend.train(train, protocol=protocol, seed=args.seed, workdir=work / "teacher", device=args.device)
        print(f"teacher trained on {len(train)} images in {time.perf_counter() - t:.1f} s")
    return Teacher(backend, ckpt, protocol, args.device)


def random_boxes_per_image(train, budget: int, seed: int) -> float:
    from dcbench.methods.random import RandomSelection

    picks = RandomSelection().select(train, budget, seed)
    return sum(int((~train.images[i].ignore).sum()) for i in picks) / budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="shapes:?n_train=200&n_test=20&size=64&max_extent=28")
    ap.add_argument("--ratio", type=float, default=0.05)
    ap.add_argument("--detector", default="yolov3-tiny")
    ap.add_argument("--protocol", default="smoke")
    ap.add_argument("--teacher", type=Path, default=None, help="teacher checkpoint (default: train one)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)

    from dcbench.api import CondenseContext
    from dcbench.budget import budget_for
    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.protocols import get_protocol
    from dcbench_od3.method import OD3

    work = Path(tempfile.mkdtemp(prefix="bench-od3-"))
    protocol = get_protocol(args.protocol)
    train = resolve_train_test(load_dataset(args.dataset)).train
    budget = budget_for(args.ratio, len(train))
    teacher = teacher_for(args, train, protocol, work)
    print(
        f"{args.dataset}: {len(train)} train images, ratio {args.ratio:g} -> {budget} canvases of "
        f"{len(train) // budget} images, {protocol.imgsz} px, {args.detector}, {args.device}"
    )
    print(f"{'variant':<30} {'wall s':>8} {'synth s':>8} {'screen s':>9} {'label s':>8} {'boxes/img':>10}")
    for name, options in VARIANTS.items():
        context = CondenseContext(teacher, args.seed, work / name.replace(" ", "_"), protocol, args.device)
        t = time.perf_counter()
        cs = OD3(**options).condense(train, budget, context=context)
        wall = time.perf_counter() - t
        tm = cs.manifest["timings"]
        print(
            f"{name:<30} {wall:>8.2f} {tm['synthesis_s']:>8.2f} {tm['screen_s']:>9.2f} {tm['label_s']:>8.2f} "
            f"{cs.dataset.n_boxes / budget:>10.2f}"
        )
    print(
        f"{'random (same budget)':<30} {'':>8} {'':>8} {'':>9} {'':>8} "
        f"{random_boxes_per_image(train, budget, args.seed):>10.2f}"
    )


if __name__ == "__main__":
    main()
