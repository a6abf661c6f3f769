"""The ``paper`` path end to end, every stage shortened: seconds per iteration, peak memory and the full-length cost.

    python benchmarks/paper_path.py                                  # yolov3-spp-classic, 512 px, CPU, VOC sample
    python benchmarks/paper_path.py --device cuda --amp bf16 off --forge-iterations 50 --gpu H100
    python benchmarks/paper_path.py --detector yolov3-tiny-classic --imgsz 256 --threads 2

Runs the DCOD paper's setting (protocol ``paper``: 512 px, its batch sizes) on the 100 real VOC images in
``../shared/data/voc2012_sample100`` through the real parts -- the backend's ``train`` for the Fetch teacher, DCOD's
``condense`` (the Forge) and the backend's ``train`` for the student -- each cut short by overrides: the teacher
sees ``--teacher-images`` images for one epoch, the forge runs ``--forge-iterations`` iterations per batch, the
student trains one epoch on the condensed set. Printed per stage: seconds per iteration (a teacher or student
step is one batch; a forge iteration one batch of ``forge_batch`` images), peak memory (the process's resident
memory on a CPU, sampled every 20 ms; allocated GPU memory on a GPU), images per second, and the full-length
cost: the paper protocol's step counts for VOC07+12 at ``--ratio`` times the measured seconds per step, and the
same from the FLOP model (``dcbench.harness.gpu_cost``) for ``--gpu``. The shortened teacher and student include
their one-time set-up in their single epoch, so their figures are upper bounds.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

VOC_TRAIN = 16551  # VOC07+12 trainval, the paper's train split (voc0712 reader)
VOC_CLASSES = 20
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "voc2012_sample100"


class PeakMemory:
    """The peak memory of what runs inside ``measure()``: allocated CUDA memory, or the process's resident set."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.peak = 0

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @contextmanager
    def measure(self):
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            yield
            self.peak = torch.cuda.max_memory_allocated()
            return
        self.peak, stop = self._rss(), threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                self.peak = max(self.peak, self._rss())

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.peak = max(self.peak, self._rss())


def _stage(name: str, device: str, run) -> dict:
    """Run ``run()`` -> (iterations, images per iteration); its time per iteration and peak memory."""
    memory = PeakMemory(device)
    with memory.measure():
        started = time.perf_counter()
        iterations, per_iteration = run()
        seconds = time.perf_counter() - started
    s_it = seconds / iterations
    row = {"stage": name, "s_per_it": s_it, "images_per_s": per_iteration / s_it, "peak_gib": memory.peak / 2**30}
    print(
        f"{name:<26} {iterations:>4} it  {s_it:>8.3f} s/it  {row['images_per_s']:>7.2f} img/s  "
        f"peak {row['peak_gib']:.2f} GiB",
        flush=True,
    )
    return row


def _full_length(paper, budget: int, rows: dict, gpu: str | None, backend) -> None:
    """The paper protocol's step counts on VOC07+12 at the ratio, times the measured and the modelled cost."""
    from dcbench.harness.estimate import training_steps

    forge_steps = math.ceil(budget / paper.forge_batch) * paper.forge_iterations
    steps = {
        "teacher": training_steps(VOC_TRAIN, paper),
        "forge": forge_steps,
        "student": training_steps(budget, paper),
    }
    print(f"\nfull length on VOC07+12 ({VOC_TRAIN} images), {budget} condensed images: steps {steps}")
    measured = {k: steps[k] * rows[k]["s_per_it"] / 3600 for k in steps}
    print(
        "measured here:  "
        + ", ".join(f"{k} {h:,.1f} h" for k, h in measured.items())
        + f"; total {sum(measured.values()):,.1f} h"
    )
    if gpu is None:
        return
    from dcbench.harness.gpu_cost import FlopCosts, get_gpu

    costs = FlopCosts(get_gpu(gpu))
    per_step = {
        "teacher": costs.teacher(backend, paper.imgsz, paper.batch, VOC_CLASSES),
        "forge": costs.forge(backend, paper.imgsz, min(budget, paper.forge_batch), VOC_CLASSES),
        "student": costs.train(backend, paper.imgsz, min(paper.batch, budget), VOC_CLASSES),
    }
    if any(v is None for v in per_step.values()):
        print(f"{backend.name} counts no FLOPs: no {gpu} model")
        return
    modelled = {k: steps[k] * per_step[k] / 3600 for k in steps}
    print(
        f"FLOP model, {gpu}: "
        + ", ".join(f"{k} {h:,.2f} h" for k, h in modelled.items())
        + f"; total {sum(modelled.values()):,.2f} h"
    )
    print(f"({costs.basis()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SAMPLE)
    ap.add_argument("--detector", default="yolov3-spp-classic")
    ap.add_argument("--imgsz", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--teacher-images", type=int, default=16)
    ap.add_argument("--forge-iterations", type=int, default=3)
    ap.add_argument("--ratio", type=float, default=0.01, help="the condensed share of VOC07+12 to extrapolate to")
    ap.add_argument("--budget", type=int, default=4, help="condensed images forged here")
    ap.add_argument("--amp", nargs="+", default=["off"], choices=["auto", "bf16", "off"])
    ap.add_argument("--gpu", default=None, help="V100, A100, H100: add the FLOP model's hours for that GPU")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run(args)


def _forge(train, teacher, paper, short, args, amp: str, workdir: Path) -> tuple[dict, object]:
    """DCOD's Forge of ``--budget`` images for ``--forge-iterations`` iterations per batch, at ``amp``."""
    from dcbench.api import CondenseContext
    from dcbench.methods.dcod.method import DCOD

    dcod, holder = DCOD(iterations=args.forge_iterations, amp=amp), {}
    context = CondenseContext(teacher, 0, workdir, short, args.device)
    per_batch = min(args.budget, paper.forge_batch)

    def forge():
        holder["set"] = dcod.condense(train, args.budget, context=context)
        return math.ceil(args.budget / per_batch) * args.forge_iterations, per_batch

    return _stage(f"forge, amp {amp}", args.device, forge), holder["set"]


def _train(backend, dataset, short, args, name: str, workdir: Path) -> tuple[dict, object]:
    """One epoch of a fresh detector on ``dataset``: its time per batch, and its checkpoint."""
    holder, batch = {}, min(short.batch, len(dataset))

    def train():
        holder["ckpt"] = backend.train(dataset, protocol=short, seed=0, workdir=workdir, device=args.device)
        return math.ceil(len(dataset) / batch), batch

    return _stage(name, args.device, train), holder["ckpt"]


def run(args) -> None:
    from dataclasses import replace

    from dcbench.api import Teacher
    from dcbench.data.spec import load_dataset
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    paper = get_protocol("paper").with_overrides(imgsz=args.imgsz)
    short = paper.with_overrides(epochs=1, min_iterations=1)
    backend = make_detector(args.detector)
    data = load_dataset(f"voc:{args.data}")
    train = data.split("train") if "train" in data.splits else data  # the sample is one folder: all of it
    print(
        f"{backend.name}, {args.imgsz} px, {args.device}, {args.threads} thread(s), {args.data.name}: {len(train)} images"
    )
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subset = replace(train, images=train.images[: args.teacher_images])
        rows["teacher"], checkpoint = _train(backend, subset, short, args, "teacher (1 epoch)", work / "teacher")
        teacher = Teacher(backend, checkpoint, short, args.device)
        for amp in args.amp:
            rows["forge"], condensed = _forge(train, teacher, paper, short, args, amp, work / f"forge-{amp}")
        rows["student"], _ = _train(backend, condensed.dataset, short, args, "student (1 epoch)", work / "student")
    _full_length(paper, max(1, round(args.ratio * VOC_TRAIN)), rows, args.gpu, backend)


if __name__ == "__main__":
    main()
