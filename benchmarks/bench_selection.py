"""Time and peak memory of K-Center, Herding and Uniform selection at COCO scale, on random features.

    python benchmarks/bench_selection.py                 # N = 10k and 118k, D = 2048, budget = 1 %
    python benchmarks/bench_selection.py --n 118287 --budget 1183

Each measurement runs in a fresh subprocess so that its peak resident memory is its own. Printed: wall time of
the selection alone, peak RSS of the process, and the size of the feature matrix for comparison (an N x budget
float32 distance matrix would be N * budget * 4 bytes: 560 MB at 118k x 1183).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[5]))
from dcbench.methods.greedy import herding, kcenter_greedy
from dcbench.methods.uniform import uniform_select
algo, n, d, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
if algo == "uniform":
    classes = [set(rng.integers(0, 80, rng.integers(1, 8)).tolist()) for _ in range(n)]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter(); picks = uniform_select(classes, 80, budget, 0); dt = time.perf_counter() - t
else:
    x = torch.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    picks = kcenter_greedy(x, budget, 0) if algo == "kcenter" else herding(x, budget)
    dt = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert len(set(picks)) == budget
print(json.dumps({"seconds": dt, "peak_rss_mb": peak / 1024, "extra_rss_mb": (peak - base) / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[10_000, 118_287])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--budget", type=int, default=None, help="default: 1 %% of N")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(
        f"{'algorithm':<10} {'N':>8} {'D':>5} {'budget':>7} {'time s':>8} {'peak RSS MB':>12} {'+ over features MB':>19} {'features MB':>12}"
    )
    for n in args.n:
        budget = args.budget or max(1, round(0.01 * n))
        for algo in ("kcenter", "herding", "uniform"):
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, algo, str(n), str(args.dim), str(budget), str(args.threads)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            feats = n * args.dim * 4 / 2**20 if algo != "uniform" else 0
            print(
                f"{algo:<10} {n:>8} {args.dim:>5} {budget:>7} {r['seconds']:>8.2f} {r['peak_rss_mb']:>12.0f} "
                f"{r['extra_rss_mb']:>19.0f} {feats:>12.0f}"
            )


if __name__ == "__main__":
    main()
