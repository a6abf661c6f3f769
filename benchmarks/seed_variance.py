"""Where a row's seed-to-seed spread comes from: the set a seed draws, or the student a seed trains. The answer
decides how a table's interval is narrowed: more seeds shrink both parts, more students per set (the protocol's
``student_repeats``) only the student's.

    python benchmarks/seed_variance.py --results leaderboards/results/shapes-reference --method random \
        --ratio 0.01 --set-seeds 0 1 --student-seeds 0 1 2

A reference cell's condensed set (seed s) is scored again by ``dcbench eval``'s path with other student seeds,
under the cell's own protocol (its overrides included); the cell itself is the student of seed s, as eval at seed
s reproduces a cell exactly. Each score is a result.json under ``--out``, so a killed run resumes. Printed: every
score; the students' pooled std within a set; the row's std over all its reference seeds; the set's part,
sqrt(total^2 - student^2); and, for 1, 2 and 4 students per set, the seeds a paired interval of +-1.5 mAP against
a row of the same spread would take, and what that costs in student trainings: for rows whose sets are their
own, and for rows that would share the set's part (fully correlated sets: only students differ). Last, every
current row of the table at that ratio, measured: its correlation with this row over their common seeds, the std
of the paired differences, and the seeds that spread takes for +-1.5.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

AIM = 1.5  # mAP: the reference tables' aim (dcbench.leaderboard.tables.RESOLUTION_AIM)


def _cells(results: Path, method: str, ratio: float) -> dict[int, tuple[Path, dict]]:
    """The reference cells of ``method`` at ``ratio`` with no variant and stored labels, by seed."""
    found = {}
    for f in sorted(results.glob("*/result.json")):
        r = json.loads(f.read_text())
        c = r.get("config", {})
        if r.get("status", "ok") != "ok" or c.get("method") != method or not math.isclose(c.get("ratio") or 0, ratio):
            continue
        if r["method"].get("variant") or c.get("labels", "stored") != "stored":
            continue
        found[int(c["seed"])] = (f.parent, r)
    return found


def _student_score(cell_dir: Path, cell: dict, seed: int, out: Path) -> float:
    """mAP of a student of ``seed`` trained on the cell's condensed set, under the cell's protocol."""
    if seed == cell["config"]["seed"]:
        return float(cell["metrics"]["mAP"])
    from dcbench.device import resolve_device
    from dcbench.harness.external import EvalConfig, prepare_external, run_external
    from dcbench.protocols import get_protocol

    c = cell["config"]
    protocol = get_protocol(c["protocol"]["name"]).with_overrides(**(c["protocol"].get("overrides") or {}))
    set_dir = (cell_dir / cell["condensed"]["path"]).resolve()
    inputs = prepare_external(EvalConfig(str(set_dir), c["detector"], protocol, seed, train=c["dataset"]))
    done = out / inputs.cell_name() / "result.json"
    if done.is_file():
        return float(json.loads(done.read_text())["metrics"]["mAP"])
    return float(run_external(inputs, out, device=resolve_device("cpu"))["metrics"]["mAP"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("leaderboards/results/shapes-reference"))
    ap.add_argument("--method", default="random")
    ap.add_argument("--ratio", type=float, default=0.01)
    ap.add_argument("--set-seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--student-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/seed-variance"))
    args = ap.parse_args()

    cells = _cells(args.results, args.method, args.ratio)
    missing = [s for s in args.set_seeds if s not in cells]
    if missing:
        raise SystemExit(f"{args.results}: no {args.method} cell at ratio {args.ratio:g} for seeds {missing}")
    within = {}
    for s in args.set_seeds:
        cell_dir, cell = cells[s]
        within[s] = [_student_score(cell_dir, cell, k, args.out) for k in args.student_seeds]
        print(f"set of seed {s}: students {args.student_seeds} -> " + ", ".join(f"{m:.2f}" for m in within[s]))
    _report(within, [float(r["metrics"]["mAP"]) for _, r in cells.values()], args)
    _measured_rows(args)


def _report(within: dict[int, list[float]], totals: list[float], args) -> None:
    from dcbench.leaderboard.stats import pooled_std, seeds_for_spread

    student, dof = pooled_std(list(within.values()))
    total = statistics.stdev(totals)
    selection = math.sqrt(max(0.0, total**2 - student**2))
    print(f"\n{args.method} at {args.ratio * 100:g} %:")
    for name, value in (
        (f"student std (pooled within {len(within)} sets, {dof} df)", student),
        (f"total std over its {len(totals)} reference seeds", total),
        ("the set's part, sqrt(total^2 - student^2)", selection),
    ):
        print(f"  {name + ':':52s} {value:5.2f} mAP")
    print(f"\n  seeds for a paired interval of +-{AIM:g} mAP against a row of the same spread, and the student")
    print("  trainings that takes, by students per set: rows with sets of their own (uncorrelated), and rows")
    print("  that would share the set's part (fully correlated: only students differ)")
    print(
        f"  {'students/set':>12s} {'row std':>8s} {'seeds':>6s} {'trainings':>10s} {'shared: seeds':>14s} {'trainings':>10s}"
    )
    for k in (1, 2, 4):
        sd = math.sqrt(selection**2 + student**2 / k)
        n = seeds_for_spread(sd * math.sqrt(2), AIM)  # the difference of two uncorrelated rows
        shared = seeds_for_spread(student * math.sqrt(2 / k), AIM)
        print(
            f"  {k:12d} {sd:8.2f} {n or '>1000':>6} {(n or 0) * k or '-':>10} {shared or '>1000':>14} "
            f"{(shared or 0) * k or '-':>10}"
        )


def _measured_rows(args) -> None:
    """Each current row against this one at the same seeds: how far their sets' draws go together, measured."""
    import numpy as np

    from dcbench.leaderboard.collect import is_stale, load_results
    from dcbench.leaderboard.stats import seeds_for_spread

    frame = load_results(args.results)
    frame = frame[np.isclose(frame["ratio"], args.ratio) & ~frame["full"] & (frame["labels"] == "stored")]
    by_row = {label: dict(zip(g["seed"], g["mAP"])) for label, g in frame.groupby("label") if not is_stale(label)}
    reference = by_row.pop(args.method, {})
    seeds = max((len(set(v) & set(reference)) for v in by_row.values()), default=0)
    rough = ""
    if seeds > 3:  # Fisher's z: a correlation of n points has a standard error of 1 / sqrt(n - 3) in z
        rough = (
            f"; at {seeds} seeds a zero correlation's 95 % interval is +-{math.tanh(1.96 / math.sqrt(seeds - 3)):.2f}"
        )
    print(f"\n  every current row against {args.method} at its common seeds, measured (corr > 0: the draws go")
    print(f"  together{rough})")
    print(f"  {'row':32s} {'seeds':>5s} {'corr':>6s} {'diff std':>9s} {'seeds for +-' + format(AIM, 'g'):>15s}")
    for label, scores in sorted(by_row.items()):
        common = sorted(set(scores) & set(reference))
        if len(common) < 3:
            continue
        a, b = [scores[s] for s in common], [reference[s] for s in common]
        diff_sd = statistics.stdev(x - y for x, y in zip(a, b))
        n = seeds_for_spread(diff_sd, AIM)
        print(f"  {label:32s} {len(common):5d} {np.corrcoef(a, b)[0, 1]:6.2f} {diff_sd:9.2f} {n or '>1000':>15}")


if __name__ == "__main__":
    main()
