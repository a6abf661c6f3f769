"""What a paper-scale DCOD run costs on a GPU, worked out from counted FLOPs and a stated utilisation.

    python benchmarks/estimate_paper_cost.py                      # yolov3-spp, 512 px, VOC07+12 at 1 %
    python benchmarks/estimate_paper_cost.py --ratio 0.005 --utilisation 0.2 0.5
    python benchmarks/estimate_paper_cost.py --detector yolov3 --n-train 118287 --ratio 0.01   # COCO 1 %

No GPU is needed (none could be reached where dcbench's reference figures were made). The method:

1. Count the FLOPs of one image's step with torch's ``FlopCounterMode``, for the two kinds of step a DCOD run
   takes: a *forge* step (forward and backward to the pixels, the detector's weights frozen) and a *training*
   step (forward and backward to the weights, for the Fetch teacher and the student). The model is built from
   its Ultralytics config; the weights' values do not change the count.
2. Time the forge step on this CPU at batch 1, to show the count is the work the CPU actually does (achieved
   GFLOP/s), not a figure from a datasheet.
3. Count the steps the ``paper`` protocol takes: the forge runs ``ceil(M / forge_batch)`` batches of
   ``forge_iterations``; a detector trained on n images runs ``protocol.epochs_for(n) * ceil(n / batch)`` steps.
4. Divide by a GPU's dense tensor-core peak times a utilisation (default 30 %, a typical share for a
   convolutional detector at batch 16; the printed range shows how the answer moves with it). The forge runs in
   TF32 (PyTorch's default for convolutions), training in mixed precision (Ultralytics' AMP).

The result is an estimate to plan with, not a measurement; docs/results.md reports it as such.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

# the GPUs' dense peaks and the FLOP count are dcbench's own (what `dcbench matrix --dry-run --gpu` uses)
from dcbench.detectors.ultralytics import count_step_flops, dummy_batch, forge_step
from dcbench.harness.gpu_cost import EFFICIENCY, GPUS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="yolov3-spp", help="yolov3-spp (the paper's), yolov3, yolov3-tiny, yolo11n")
    ap.add_argument("--n-train", type=int, default=16551, help="VOC07+12 trainval (16,551); COCO train2017 118,287")
    ap.add_argument("--ratio", type=float, default=0.01)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--protocol", default="paper")
    ap.add_argument("--utilisation", type=float, nargs="*", default=[EFFICIENCY, 0.15, 0.5])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from dcbench.budget import budget_for
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    proto = get_protocol(args.protocol)
    config = make_detector(args.detector).config
    forge_f, train_f, model = count_step_flops(config, proto.imgsz, args.classes)
    t0 = time.perf_counter()
    reps = 2
    for _ in range(reps):
        forge_step(model, dummy_batch(proto.imgsz))
    cpu_s = (time.perf_counter() - t0) / reps

    m = budget_for(args.ratio, args.n_train)
    forge_steps = math.ceil(m / proto.forge_batch) * proto.forge_iterations
    forge_total = forge_steps * proto.forge_batch * forge_f
    student_total = proto.epochs_for(m) * math.ceil(m / proto.batch) * proto.batch * train_f
    teacher_total = proto.epochs_for(args.n_train) * math.ceil(args.n_train / proto.batch) * proto.batch * train_f

    print(f"{config} at {proto.imgsz} px, protocol {proto.name}; M = {m} of {args.n_train} images")
    print(f"per image: forge step {forge_f / 1e9:.1f} GFLOP, training step {train_f / 1e9:.1f} GFLOP")
    print(
        f"this CPU ({args.threads} threads): forge step {cpu_s:.2f} s per image = {forge_f / cpu_s / 1e9:.1f} GFLOP/s achieved"
    )
    print(
        f"forge: {forge_steps} steps of {proto.forge_batch} images = {forge_total / 1e15:.2f} PFLOP "
        f"(this CPU: {forge_steps * proto.forge_batch * cpu_s / 86400:.1f} days)"
    )
    print(
        f"student: {proto.epochs_for(m)} epochs = {student_total / 1e15:.2f} PFLOP; "
        f"Fetch teacher: {proto.epochs_for(args.n_train)} epochs = {teacher_total / 1e15:.1f} PFLOP"
    )
    u0 = args.utilisation[0]
    print(
        f"\nhours on one GPU at {u0:.0%} of its dense tensor peak "
        f"(range {min(args.utilisation):.0%}-{max(args.utilisation):.0%} in brackets):"
    )
    print(f"{'GPU':10s} {'forge (TF32)':>24s} {'student (AMP)':>24s} {'teacher (AMP)':>24s}")
    for name, gpu in GPUS.items():
        cols = []
        for total, peak in (
            (forge_total, gpu.forge_tflops),
            (student_total, gpu.train_tflops),
            (teacher_total, gpu.train_tflops),
        ):
            hours = [total / (peak * 1e12 * u) / 3600 for u in (u0, max(args.utilisation), min(args.utilisation))]
            cols.append(f"{hours[0]:7.2f} [{hours[1]:.2f}-{hours[2]:.2f}]")
        print(f"{name:10s} {cols[0]:>24s} {cols[1]:>24s} {cols[2]:>24s}")


if __name__ == "__main__":
    main()
