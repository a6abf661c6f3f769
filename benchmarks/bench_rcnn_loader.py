"""R-CNN training step time: images decoded inside the step (the path before the DataLoader) against a DataLoader
with 0, 1 or 2 workers, on the same images, batches and flips.

    python benchmarks/bench_rcnn_loader.py                                  # 16 shapes images at 320 px, CPU
    python benchmarks/bench_rcnn_loader.py --dataset yolo:../shared/data/coco128 --images 32
    python benchmarks/bench_rcnn_loader.py --detector faster-rcnn --device cuda --modes step 0 2 4

Every run goes through the backend's real ``train`` from the same initial weights and seed, so every mode computes
exactly the same steps (the weights come out identical; the script checks it). Per step it records when the batch
reached the step (the step's data wait: the time since the previous optimiser step ended) and when the optimiser
step ended (the step time). The modes are interleaved, ``--repeats`` times, so that a change of background load
hits them alike; the table gives medians over every step but each run's first (worker start-up is in "first").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def timed_training(backend, dataset, protocol, device: str, workers) -> tuple[list[float], list[float], float, dict]:
    """Train once with ``workers``; (step times, data waits, first step, weights)."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from dcbench.detectors import rcnn_common

    module = __import__(type(backend).__module__, fromlist=["train_from_scratch"])
    marks: list[tuple[str, float]] = []

    def wrapped(model, ds, prepare, step_losses, **kw):
        def timed_step(samples):
            marks.append(("batch", time.perf_counter()))
            return step_losses(samples)

        marks.append(("start", time.perf_counter()))
        return rcnn_common.train_from_scratch(model, ds, prepare, timed_step, **kw)

    hook = register_optimizer_step_post_hook(lambda *_: marks.append(("stepped", time.perf_counter())))
    module.train_from_scratch, original = wrapped, module.train_from_scratch
    backend.loader_workers = workers
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = backend.train(dataset, protocol=protocol, seed=0, workdir=Path(tmp), device=device)
            weights = torch.load(ckpt.path, map_location="cpu", weights_only=False)["model"]
    finally:
        module.train_from_scratch = original
        hook.remove()
    ends = [t for kind, t in marks if kind in ("start", "stepped")]
    batches = [t for kind, t in marks if kind == "batch"]
    steps = [b - a for a, b in zip(ends, ends[1:])]
    waits = [b - a for a, b in zip(ends, batches)]
    return steps, waits, steps[0], weights


def decode_time(backend_module, dataset, imgsz: int, batch: int) -> float:
    """Seconds to prepare one batch in the main process (what the workers take off the step)."""
    import functools
    import inspect

    prepare = backend_module.train_sample
    if "imgsz" in inspect.signature(prepare).parameters:
        prepare = functools.partial(prepare, imgsz=imgsz)
    t = time.perf_counter()
    for rec in dataset.images:
        prepare(rec, False)
    return (time.perf_counter() - t) / len(dataset.images) * batch


def load(args):
    from dcbench.data.shapes import ShapesConfig, shapes_dataset
    from dcbench.data.spec import load_dataset

    if args.dataset:
        full = load_dataset(args.dataset)
        split = next((s for s in ("train", "trainval") if s in full.splits), None)
        ds = full.split(split) if split else full
        return ds.subset(list(range(min(args.images, len(ds)))))
    cfg = ShapesConfig(n_train=args.images, n_test=1, size=args.imgsz, max_extent=args.imgsz // 2)
    return shapes_dataset(cfg).split("train")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector", default="torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    ap.add_argument("--dataset", help="a dataset spec (default: generated shapes)")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--modes", nargs="*", default=["step", "0", "1", "2"], help="'step' or a worker count")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    backend = make_detector(args.detector)
    dataset = load(args)
    protocol = get_protocol("smoke").with_overrides(
        imgsz=args.imgsz, batch=args.batch, epochs=args.epochs, min_iterations=1
    )
    modes = [None if m == "step" else int(m) for m in args.modes]
    results: dict = {m: ([], [], [], None) for m in modes}
    timed_training(backend, dataset, protocol, args.device, modes[0])  # imports, allocator: untimed
    for _ in range(args.repeats):
        for m in modes:  # interleaved: background load hits every mode alike
            t = time.perf_counter()
            steps, waits, first, weights = timed_training(backend, dataset, protocol, args.device, m)
            print(
                f"  {m if m is not None else 'step'}: {len(steps)} steps, {time.perf_counter() - t:.1f} s", flush=True
            )
            results[m][0].extend(steps[1:])
            results[m][1].extend(waits[1:])
            results[m][2].append(first)
            results[m] = (*results[m][:3], weights)
    report(args, backend, dataset, modes, results)


def report(args, backend, dataset, modes, results) -> None:
    import torch

    module = __import__(type(backend).__module__, fromlist=["train_sample"])
    decode = decode_time(module, dataset, args.imgsz, args.batch)
    steps_run = len(results[modes[0]][0]) // args.repeats + 1
    print(
        f"{backend.name}, {len(dataset)} images, imgsz {args.imgsz}, batch {args.batch}, {steps_run} steps per run, "
        f"{args.repeats} runs per mode, {args.device}, {args.threads} threads; decoding one batch in the main "
        f"process: {decode * 1000:.1f} ms"
    )
    base = statistics.median(results[modes[0]][0])
    ref = results[modes[0]][3]
    print(
        f"{'input':<28} {'s / step':>9} {'data wait':>10} {'first step':>11} {'vs ' + str(args.modes[0]):>9}  same weights"
    )
    for m in modes:
        steps, waits, firsts, weights = results[m]
        label = "decoded in the step" if m is None else f"DataLoader, {m} worker(s)"
        same = all(torch.equal(ref[k], weights[k]) for k in ref)
        med = statistics.median(steps)
        print(
            f"{label:<28} {med:>9.3f} {statistics.median(waits) * 1000:>8.1f}ms {statistics.median(firsts):>10.2f}s "
            f"{med / base:>8.2f}x  {same}"
        )


if __name__ == "__main__":
    main()
