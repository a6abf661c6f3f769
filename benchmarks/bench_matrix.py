"""What the matrix harness reuses, and what it costs per cell.

    python benchmarks/bench_matrix.py [--seeds 3] [--protocol smoke]

Runs a 5 methods x 3 ratios x N seeds matrix (plus the full-data rows) on a small generated dataset with a fresh
cache, then counts from the files it left: teacher trainings (teacher cache entries), feature extractions (feature
cache entries) and condensed sets, against what a harness without caching would do (one of each per cell that
needs it). The harness's own overhead per cell is the executor's wall time per cell minus the cell's own
``total_s``; the planning cost is a resume of the finished matrix (load the spec, check every cell, run nothing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

SPEC = """
name = "bench"
protocol = "{protocol}"
datasets = ["shapes:?n_train=60&n_test=12&size=64&min_extent=8&max_extent=30"]
detectors = ["yolov3-tiny"]
ratios = [0.05, 0.1, 0.2]
seeds = {seeds}
full_data = true
{methods}
"""
METHODS = ("random", "uniform", "kcenter", "herding", "dcod")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--protocol", default="smoke")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-matrix-"))
    os.environ["DCBENCH_CACHE"] = str(work / "cache")

    from dcbench.harness.executors.local import run_local
    from dcbench.harness.matrix import cell_state, load_spec
    from dcbench.harness.staleness import read_result

    spec_file = work / "bench.toml"
    spec_file.write_text(
        SPEC.format(
            protocol=args.protocol,
            seeds=list(range(args.seeds)),
            methods="".join(f'\n[[methods]]\nname = "{m}"\n' for m in METHODS),
        )
    )
    out = work / "results"
    spec = load_spec(spec_file)
    cells = spec.cells()
    started = time.perf_counter()
    outcomes = run_local(cells, out, device="cpu")
    wall = time.perf_counter() - started
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.status != "ok"]

    t0 = time.perf_counter()
    spec = load_spec(spec_file)
    states = [cell_state(out, c, spec.fingerprints) for c in spec.cells()]
    plan_s = time.perf_counter() - t0
    assert states.count("done") == len(cells)

    cache = work / "cache"
    teachers = len([p for p in (cache / "teachers").iterdir() if (p / "teacher.json").is_file()])
    features = len(list((cache / "features").glob("*.npy")))
    condensed = len(list((out / "condensed").iterdir()))
    needs_teacher = sum(1 for c in cells if c.uses_teacher() or c.student_is_teacher())
    results = [read_result(out / c.cell_name()) for c in cells]
    needs_features = sum(1 for r in results if "features" in r["condensed"]["manifest"])
    condensing = sum(1 for c in cells if not c.student_is_teacher())
    overhead = [o.seconds - o.cell_seconds for o in outcomes]

    print(
        f"matrix: {len(METHODS)} methods x {len(spec.ratios)} ratios x {args.seeds} seeds + full-data rows = "
        f"{len(cells)} cells, protocol {args.protocol}, {wall:.1f}s on {os.cpu_count()} CPUs"
    )
    print("| work | with the harness's caches | without caching | saved |")
    print("|---|---|---|---|")
    for name, have, without in (
        ("teacher trainings", teachers, needs_teacher),
        ("feature extractions", features, needs_features),
        ("condensed sets", condensed, condensing),
    ):
        print(f"| {name} | {have} | {without} | {without - have} |")
    print(
        f"harness overhead per cell (executor wall - cell total_s): mean {statistics.mean(overhead) * 1000:.1f} ms, "
        f"max {max(overhead) * 1000:.1f} ms"
    )
    print(
        f"resume of the finished matrix (load spec + check {len(cells)} cells): {plan_s:.2f}s "
        f"({plan_s / len(cells) * 1000:.1f} ms per cell)"
    )
    print(f"mean cell time {statistics.mean(o.cell_seconds for o in outcomes):.2f}s; files in {work}")


if __name__ == "__main__":
    main()
