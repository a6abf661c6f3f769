"""A student's training step against its floor: one bare forward + loss + backward + optimiser step at the same batch.

    python benchmarks/bench_student_step.py                                 # yolo11n, 10 images, 160 px, CPU
    python benchmarks/bench_student_step.py --detector yolov3-tiny --images 16 --imgsz 320 --threads 2
    python benchmarks/bench_student_step.py --distill       # also a distilled step (labels = distill) against it

The student is the reference one: the whole set in one batch, so every epoch is one step, and a step pays the
epoch's own work too (the loader's iterator, the LR scheduler, EMA attributes, the metrics row). Its time per step
is the difference of two real ``train`` calls of ``--short`` and ``--long`` epochs divided by the extra epochs, so
model building, data writing and the final save are left out. The floor is the same model's loss, backward and SGD
step on one fixed batch already in memory. Printed: both, and their ratio (the overhead a GPU would make the whole
cost, since there the step itself takes milliseconds). With ``--distill``, the same real step of a student that
distils from a teacher of its own architecture (PKD, the teacher's forward on every batch) and its ratio to the
plain step: ``DISTILL_FACTOR`` in ``dcbench/harness/estimate.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def student_steps(detector: str, images: int, imgsz: int, short: int, long: int, distill: bool) -> dict[str, float]:
    """Seconds per step of the backend's real ``train`` on ``images`` generated images, one batch per epoch:
    ``plain``, and with ``distill`` also ``distilled`` (from a one-epoch teacher: its quality does not change the
    cost)."""
    from dcbench.api import Teacher
    from dcbench.data.shapes import ShapesConfig, shapes_dataset
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    backend = make_detector(detector)
    ds = shapes_dataset(ShapesConfig(n_train=images, n_test=1, size=imgsz, max_extent=min(44, imgsz // 2)))
    train = ds.split("train")

    def protocol(epochs: int):
        return get_protocol("quick").with_overrides(imgsz=imgsz, batch=images, epochs=epochs, min_iterations=1)

    with tempfile.TemporaryDirectory() as keep:
        ckpt = backend.train(train, protocol=protocol(1), seed=0, workdir=Path(keep), device="cpu")  # untimed too
        teacher = Teacher(backend, ckpt, protocol(1), "cpu")
        modes = {"plain": {}, **({"distilled": {"distill": teacher}} if distill else {})}
        return {mode: _per_step(backend, train, protocol, short, long, extra) for mode, extra in modes.items()}


def _per_step(backend, train, protocol, short: int, long: int, extra: dict) -> float:
    times = {}
    for epochs in (short, long):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            backend.train(train, protocol=protocol(epochs), seed=0, workdir=Path(tmp), device="cpu", **extra)
            times[epochs] = time.perf_counter() - started
    return (times[long] - times[short]) / (long - short)


def bare_step(config: str, images: int, imgsz: int, steps: int) -> float:
    """Seconds per step of the Ultralytics model's own loss, backward and an SGD step on a fixed batch (the model and
    batch ``dcbench.detectors.ultralytics`` counts FLOPs on)."""
    from dcbench.detectors.ultralytics import dummy_batch, flop_model

    torch.manual_seed(0)
    model = flop_model(config, 3)
    model.train()
    batch = dummy_batch(imgsz, n=images)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.937, nesterov=True)
    for i in range(steps + 2):  # two untimed warm-up steps
        if i == 2:
            started = time.perf_counter()
        loss, _ = model.loss(batch)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="yolo11n")
    ap.add_argument("--config", default=None, help="its Ultralytics config (default: the detector's)")
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--short", type=int, default=10)
    ap.add_argument("--long", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--distill", action="store_true", help="also time a distilled student's step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from dcbench.harness.identity import make_detector

    config = args.config or make_detector(args.detector).config
    steps = student_steps(args.detector, args.images, args.imgsz, args.short, args.long, args.distill)
    floor = bare_step(config, args.images, args.imgsz, steps=args.long - args.short)
    real = steps["plain"]
    print(f"{args.detector}, batch {args.images}, {args.imgsz} px, {args.threads} thread(s)")
    print(f"student step {real:.3f} s, bare step {floor:.3f} s: {real / floor:.2f}x")
    if "distilled" in steps:
        print(f"distilled student step {steps['distilled']:.3f} s: {steps['distilled'] / real:.2f}x the student step")


if __name__ == "__main__":
    main()
