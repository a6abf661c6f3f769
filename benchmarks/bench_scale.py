"""Time and peak memory of dcbench's dataset-sized stages on a COCO-sized synthetic set, at several sizes.

    python benchmarks/bench_scale.py                                   # N = 10k, 30k, 118,287 train images
    python benchmarks/bench_scale.py --n 10000 --data /tmp/coco-scale  # one size, data kept for the next run

The data comes from ``benchmarks/coco_scale_data.py`` (COCO 2017's image sizes, box counts, class and size mix,
masks as heavy as COCO's; blank PNGs whose headers match the JSON), generated once per size under ``--data`` and
reused. Every stage runs dcbench's real code:

* ``data check (CLI)``: ``python -m dcbench data check coco:FILE --json --no-decode`` in a subprocess, as a user
  runs it (read, validate, summarise; the pixel decode is ``benchmarks/bench_image_check.py``'s), memory from the
  child's rusage;
* in one process per N, the same work split up: ``load`` (read + validate: ``load_dataset``), ``headers`` (the
  check's header pass), ``fingerprint``, ``summary``, ``load again`` (the COCO reader keeps no cache of its own:
  this is a second read with the OS file cache warm), then, at 1 % of N (1,183 images at full size), Random and
  Uniform (``condense``: select, fingerprint, write the set), the feature cache written and read back
  (``image_features`` with a stand-in teacher backend whose ``features()`` returns random vectors of yolo11n's
  size, ``--dim``), K-Center and Herding (``condense`` reading those cached features), and ``write condensed set``
  (``write_condensed`` of 1 % of the images alone);
* ``evaluate``: both evaluator backends on 1,000 and 5,000 test images with 100 detections each;
* ``leaderboard``: ``write_leaderboards`` (read, aggregate, render, write) over 200 and 2,000 result files made
  from a real one in ``leaderboards/results/`` (read, never written), 5 seeds per row as the reference has, without
  and with the plots; then 2,000 files with 20 seeds per row (the sign-flip test counts 2^seeds patterns a row).

Memory is the peak resident set. For the CLI: the child's ``ru_maxrss`` (from ``wait4``; it counts what the parent
held when it forked, about 30 MB, as the parent generates no data itself). In-process: the kernel's high-water mark
``VmHWM``, reset before each stage through ``/proc/self/clear_refs`` (Linux; elsewhere ``ru_maxrss``, the peak since
the start), printed as ``peak MB (+ its growth over the resident set at the stage's start)``: the peak includes what
the process already held (imports, torch among them, and the loaded dataset). ``--tracemalloc`` adds the peak of
Python-heap allocations (numpy's included, torch's not) at the cost of slower stages. The work folder (condensed
sets, feature cache, result files) is removed at the end unless ``--keep``; the generated data under ``--data`` is
kept and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent

SIZES = (10_000, 30_000, 118_287)


def train_spec(root: Path) -> str:
    return f"coco:{root / 'annotations' / 'instances_train2017.json'}"


def cli_check(root: Path, n: int) -> dict:
    """``dcbench data check`` as a user runs it, in a child process: wall time and the child's peak RSS."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dcbench", "data", "check", train_spec(root), "--json", "--no-decode"],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        out.seek(0)
        summary = json.loads(out.read())
    if status != 0 or summary["images"] != n:
        raise RuntimeError(f"data check failed (status {status}, {summary.get('images')} images)")
    return {"stage": "data check (CLI)", "n": n, "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024}


def generate(root: Path, n: int) -> dict:
    """The data for size ``n`` (reused when there), made in a child process: a child forked from a process that
    built 862k annotations would report that process's memory as its own floor (ru_maxrss counts it)."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "coco_scale_data.py"), str(root), "--n-train", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def run_child(args: list[str], env: dict) -> list[dict]:
    """Run this script's ``--child`` mode; its stdout is one JSON record per stage."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env={**os.environ, **env}
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def fmt_cell(r: dict | None) -> str:
    """``seconds, peak RSS MB (+ growth over the RSS at the stage's start)[, tracemalloc peak]``."""
    if r is None:
        return "–"
    text = f"{r['seconds']:.2f} s, {r['peak_mb']:.0f} MB"
    if r.get("start_mb") is not None:
        text += f" (+{max(0.0, r['peak_mb'] - r['start_mb']):.0f})"
    if r.get("traced_mb") is not None:
        text += f", traced {r['traced_mb']:.0f} MB"
    return text


def print_table(title: str, records: list[dict], sizes: list[int], size_name: str) -> None:
    """One row per stage, one column per size, and the growth of time from the smallest to the largest size."""
    timed = [r for r in records if "seconds" in r]  # the rest are notes
    stages = list(dict.fromkeys(r["stage"] for r in timed))
    by = {(r["stage"], r["n"]): r for r in timed}
    print(f"\n### {title}\n")
    growth = f"time x (size x {sizes[-1] / sizes[0]:.1f})" if len(sizes) > 1 else ""
    head = ["stage", *[f"{size_name} = {n:,}" for n in sizes]] + ([growth] if growth else [])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for stage in stages:
        cells = [stage, *[fmt_cell(by.get((stage, n))) for n in sizes]]
        if growth:
            lo, hi = by.get((stage, sizes[0])), by.get((stage, sizes[-1]))
            cells.append(f"{hi['seconds'] / max(lo['seconds'], 1e-9):.1f}" if lo and hi else "–")
        print("| " + " | ".join(cells) + " |")
    details = [f"- {r['stage']} at {r['n']:,}: {r['detail']}" for r in records if r.get("detail")]
    if details:
        print("\n" + "\n".join(details))


# -- the child process: stages measured in-process ------------------------------------------------------------------
class Meter:
    """Runs a stage and prints its record: wall time, peak RSS (high-water mark reset first), optionally the
    tracemalloc peak."""

    def __init__(self, trace: bool):
        self.trace = trace

    @staticmethod
    def _reset_peak() -> None:
        try:  # "5" resets the kernel's high-water mark of this process's resident set (VmHWM; Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass  # elsewhere the peak is the process's since it started

    @staticmethod
    def _status_mb(field: str) -> float | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def _peak_mb(self) -> float:
        # VmHWM, not ru_maxrss: ru_maxrss never drops below what the parent held when it forked this process
        import resource

        hwm = self._status_mb("VmHWM")
        return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def __call__(self, stage: str, n: int, fn, detail=None):
        import gc
        import tracemalloc

        gc.collect()
        self._reset_peak()
        start = self._status_mb("VmRSS")
        if self.trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        traced = tracemalloc.get_traced_memory()[1] / 2**20 if self.trace else None
        tracemalloc.stop()
        peak = self._peak_mb()
        record = {"stage": stage, "n": n, "seconds": seconds, "peak_mb": peak, "start_mb": start, "traced_mb": traced}
        if detail is not None:
            record["detail"] = detail(out)
        print(json.dumps(record), flush=True)
        return out


class StandInBackend:
    """A detector backend whose ``features()`` returns seeded random vectors of the real extractor's size, so the
    feature path (cache key, cache file, checksum, K-Center/Herding, the condensed set) runs as for a real teacher."""

    name = "stand-in"

    def __init__(self, dim: int):
        self.dim = dim

    def features(self, checkpoint, dataset, *, protocol, device, reporter=None):
        import numpy as np

        return np.random.default_rng(0).standard_normal((len(dataset), self.dim), dtype=np.float32)


def _stand_in_teacher(dim: int, workdir: Path, protocol):
    from dcbench.api import Checkpoint, Teacher

    weights = workdir / "stand-in.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(f"stand-in teacher, {dim}-d features".encode())  # the cache key digests this file
    return Teacher(StandInBackend(dim), Checkpoint("stand-in", weights), protocol, "cpu")


def _data_stages(m: Meter, spec: str, n: int):
    from dcbench.cli.data_cmd import dataset_summary
    from dcbench.data.spec import load_dataset
    from dcbench.data.validate import read_image_size

    ds = m("load", n, lambda: load_dataset(spec), lambda d: f"{len(d):,} images, {d.n_boxes:,} boxes")

    def headers() -> int:
        return sum(read_image_size(im.file) != (im.width, im.height) for im in ds.images)

    m("headers", n, headers, lambda bad: f"{bad} size mismatches")
    m("fingerprint", n, ds.fingerprint)
    m("summary", n, lambda: dataset_summary(ds))
    m("load again", n, lambda: len(load_dataset(spec)))
    return ds


def _selection_stages(m: Meter, ds, n: int, dim: int, workdir: Path) -> None:
    import numpy as np

    from dcbench.api import CondenseContext
    from dcbench.budget import budget_for
    from dcbench.condensed import write_condensed
    from dcbench.methods.feature_selection import HerdingSelection, KCenterSelection
    from dcbench.methods.features import image_features
    from dcbench.methods.random import RandomSelection
    from dcbench.methods.uniform import UniformSelection
    from dcbench.protocols import get_protocol

    budget = budget_for(0.01, n)
    protocol = get_protocol("quick")
    teacher = _stand_in_teacher(dim, workdir, protocol)

    def condense(method, name: str):
        context = CondenseContext(teacher, 0, workdir / name, protocol, "cpu")
        return lambda: method.condense(ds, budget, context=context)

    picked = lambda cs: f"{len(cs)} images; select {cs.manifest['timings']['select_s']} s"  # noqa: E731
    m("random 1%", n, condense(RandomSelection(), "random"), picked)
    m("uniform 1%", n, condense(UniformSelection(), "uniform"), picked)
    feats = lambda: image_features(ds, "teacher", teacher=teacher, protocol=protocol, device="cpu")  # noqa: E731
    said = lambda fr: f"{fr[0].shape[0]:,} x {fr[0].shape[1]} float32, cached={fr[1]['cached']}"  # noqa: E731
    m("feature cache write", n, feats, said)
    m("feature cache read", n, feats, said)
    pick = lambda cs: f"{len(cs)} images; pick {cs.manifest['pick_s']} s, features {cs.manifest['feature_s']} s"  # noqa: E731
    m("kcenter 1%", n, condense(KCenterSelection(), "kcenter"), pick)
    m("herding 1%", n, condense(HerdingSelection(), "herding"), pick)
    idx = sorted(np.random.default_rng(1).choice(n, budget, replace=False).tolist())
    subset = ds.subset(idx, name="bench")
    m("write condensed set", n, lambda: write_condensed(subset, workdir / "write" / "condensed", {"method": "bench"}))


def fake_detections(ds, per_image: int = 100, seed: int = 0) -> list:
    """``per_image`` detections per image: up to half are the ground truth jittered by 10 % of its size (a tenth of
    those with a wrong class), the rest random boxes; higher scores on the jittered ones, so AP is neither 0 nor 1."""
    import numpy as np

    from dcbench.evaluation.detections import Detections

    rng = np.random.default_rng(seed)
    out = []
    for im in ds.images:
        k = min(len(im.boxes), per_image // 2)
        take = rng.permutation(len(im.boxes))[:k]
        gt = im.boxes[take].astype(np.float64)
        wh = np.concatenate([gt[:, 2:] - gt[:, :2]] * 2, axis=1)
        near = gt + rng.normal(0, 0.1, (k, 4)) * wh
        near_labels = np.where(rng.random(k) < 0.1, rng.integers(0, ds.num_classes, k), im.labels[take])
        r = per_image - k
        size = np.exp(rng.uniform(np.log(8), np.log(max(9, min(im.width, im.height) / 2)), (r, 2)))
        xy = rng.uniform(0, 1, (r, 2)) * np.maximum([im.width, im.height] - size, 0)
        boxes = np.concatenate([near, np.concatenate([xy, xy + size], axis=1)])
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, im.width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, im.height)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        scores = np.concatenate([rng.uniform(0.3, 1.0, k), rng.uniform(0.0, 0.7, r)])
        labels = np.concatenate([near_labels, rng.integers(0, ds.num_classes, r)])
        out.append(Detections(boxes, scores, labels))
    return out


def _evaluate_one(m: Meter, test, k: int) -> None:
    from dcbench.evaluation.coco_eval import BACKENDS, METRICS, evaluate

    part = test.subset(range(min(k, len(test))))
    dets = fake_detections(part)
    scores = [m(f"evaluate: {b}", k, partial(evaluate, part, dets, backend=b)) for b in BACKENDS]
    gap = max(abs(scores[0][x] - s[x]) for s in scores[1:] for x in METRICS if scores[0][x] is not None)
    print(json.dumps({"stage": "note", "n": k, "detail": f"mAP {scores[0]['mAP']:.3f}; backends differ by {gap:.1e}"}))


def _evaluate_stages(m: Meter, root: Path, sizes: list[int]) -> None:
    import faster_coco_eval  # noqa: F401  imported before the clock starts
    import pycocotools.cocoeval  # noqa: F401

    from dcbench.data.spec import load_dataset

    test = load_dataset(f"coco:{root / 'annotations' / 'instances_val2017.json'}")
    for k in sizes:
        _evaluate_one(m, test, k)


def template_result() -> Path:
    """A real result file to copy from (read only): Random's if there is one."""
    found = sorted((HERE.parent / "leaderboards" / "results").glob("*/*/result.json"))
    if not found:
        raise SystemExit("no leaderboards/results/*/*/result.json to use as a template")
    randoms = [f for f in found if f.parent.name.split("__")[1:2] == ["random"]]
    return (randoms or found)[0]


def _result_like(base: dict, dataset: str, det: str, method: str, ratio: float, seed: int, mAP: float) -> dict:
    r = json.loads(json.dumps(base))
    r.update(cell=f"{dataset}__{method}__{det}__r{ratio}__s{seed}__quick", detector=det, eval_detector=det)
    r["budget"] = round(ratio * 118_287)
    r["config"].update(method=method, detector=det, eval_detector=None, ratio=ratio, seed=seed)
    r["config"].update(dataset=dataset, dataset_id=dataset, test_dataset=None, method_options={})
    r["method"] = {"name": method, "variant": {}, "options": {}}
    r["condensed"]["manifest"]["kind"] = "selection"
    factors = {"mAP": 1, "AP50": 1.7, "AP75": 1, "APs": 0.5, "APm": 1.1, "APl": 1.4}
    r["metrics"] = {key: mAP * f for key, f in factors.items()}
    return r


def make_results(template: Path, folder: Path, count: int, seeds: int) -> None:
    """``count`` plausible result files: tables of 5 methods x 4 ratios x ``seeds`` seeds, one per (dataset,
    evaluation detector), mAP drawn around a per-method level."""
    import itertools

    import numpy as np

    base = json.loads(template.read_text())
    rng = np.random.default_rng(0)
    methods, ratios, detectors = ("random", "uniform", "kcenter", "herding", "dcod"), (0.01, 0.02, 0.05, 0.1), 2
    for t in range(count // (len(methods) * len(ratios) * seeds)):
        dataset, det = f"coco-scale-{t // detectors}", ("yolo11n", "yolov8n")[t % detectors]
        for (mi, method), ratio, seed in itertools.product(enumerate(methods), ratios, range(seeds)):
            mAP = float(10 + 40 * ratio**0.5 + mi + rng.normal(0, 1.5))
            r = _result_like(base, dataset, det, method, ratio, seed, mAP)
            (folder / r["cell"]).mkdir(parents=True)
            (folder / r["cell"] / "result.json").write_text(json.dumps(r))


def _leaderboard_one(m: Meter, template: Path, work: Path, count: int, seeds: int, plots: bool) -> None:
    from dcbench.leaderboard.write import write_leaderboards

    results = work / f"results-{count}-{seeds}"
    make_results(template, results, count, seeds)
    files = len(list(results.glob("*/result.json")))

    def said(written: list[Path]) -> str:
        return f"{files} files, {sum(p.suffix == '.md' for p in written) - 1} tables"

    tables = partial(write_leaderboards, results, work / f"out-{count}-{seeds}", plots=False)
    m(f"leaderboard, {seeds} seeds: tables", count, tables, said)
    if plots:
        m(
            f"leaderboard, {seeds} seeds: tables + plots",
            count,
            partial(write_leaderboards, results, work / f"plots-{count}"),
            said,
        )


def _leaderboard_stages(m: Meter, work: Path, counts: list[int]) -> None:
    """The reference's 5 seeds per row, with and without plots; then 20 seeds per row (the exact sign-flip test
    enumerates 2^seeds sign patterns per row)."""
    import matplotlib.pyplot  # noqa: F401  imported before the clock starts, as a warm CLI would have them
    import scipy.stats  # noqa: F401

    import dcbench.leaderboard.plot  # noqa: F401

    template = template_result()
    for count in counts:
        _leaderboard_one(m, template, work, count, 5, plots=True)
    _leaderboard_one(m, template, work, counts[-1], 20, plots=False)
    print(json.dumps({"stage": "note", "n": counts[-1], "detail": f"template {template}"}))


def child_main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    trace = "--tracemalloc" in argv
    argv = [a for a in argv if a != "--tracemalloc"]
    m = Meter(trace)
    kind, rest = argv[0], argv[1:]
    if kind == "stages":
        root, n, dim, workdir = Path(rest[0]), int(rest[1]), int(rest[2]), Path(rest[3])
        ds = _data_stages(m, train_spec(root), n)
        _selection_stages(m, ds, n, dim, workdir)
    elif kind == "evaluate":
        _evaluate_stages(m, Path(rest[0]), [int(v) for v in rest[1:]])
    elif kind == "leaderboard":
        _leaderboard_stages(m, Path(rest[0]), [int(v) for v in rest[1:]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=list(SIZES), help="train set sizes")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "dcbench-coco-scale")
    ap.add_argument("--dim", type=int, default=256, help="feature size (yolo11n's pooled backbone: 256)")
    ap.add_argument("--eval-images", type=int, nargs="*", default=[1_000, 5_000])
    ap.add_argument("--results", type=int, nargs="*", default=[200, 2_000], help="result files to aggregate")
    ap.add_argument("--skip", nargs="*", default=[], choices=["check", "stages", "evaluate", "leaderboard"])
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child_main(args.child)
        return
    sizes = sorted(args.n)
    work = Path(tempfile.mkdtemp(prefix="dcbench-bench-scale-"))
    env = {"DCBENCH_CACHE": str(work / "cache"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    trace = ["--tracemalloc"] if args.tracemalloc else []
    per_n: list[dict] = []
    for n in sizes:
        root = args.data / f"n{n}"
        t0 = time.perf_counter()
        made = generate(root, n)
        took = time.perf_counter() - t0
        split = made["splits"]["train2017"]
        print(f"data N={n:,}: {root} ({took:.1f} s now; generation took {sum(split['seconds'].values()):.1f} s)")
        if "check" not in args.skip:
            per_n.append(cli_check(root, n))
        if "stages" not in args.skip:
            per_n += run_child(["stages", str(root), str(n), str(args.dim), str(work / f"w{n}"), *trace], env)
    print_table("per train-set size N (time, peak RSS)", per_n, sizes, "N")
    largest = args.data / f"n{sizes[-1]}"
    if "evaluate" not in args.skip:
        recs = run_child(["evaluate", str(largest), *map(str, args.eval_images), *trace], env)
        print_table("evaluation, 100 detections per image", recs, sorted(args.eval_images), "test images")
    if "leaderboard" not in args.skip:
        recs = run_child(["leaderboard", str(work / "lb"), *map(str, args.results), *trace], env)
        print_table("leaderboard aggregation", recs, sorted(args.results), "result files")
    if args.keep:
        print(f"\nwork files in {work}; data in {args.data}")
    else:
        shutil.rmtree(work, ignore_errors=True)
        print(f"\ndata in {args.data} (reused by the next run)")


if __name__ == "__main__":
    main()
