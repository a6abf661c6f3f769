"""How much of a row's seed-to-seed spread is the test set's: every student a reference table's cells trained
(and the extra students of benchmarks/seed_variance.py) scored again on a larger test split of the same
generator. A shapes image is drawn from its own stream (seed, split, index), so the larger split's first images
are the reference test set itself: each student's score on them must reproduce its result file, which is checked.

    python benchmarks/test_set_size.py --results leaderboards/results/shapes-reference --ratio 0.01 --n-test 2000

Predicting costs seconds where training costs minutes, so if the spread between students of one set shrinks on
the larger split, a larger test set is the cheapest way to a narrower interval. Each student's two scores are a
result.json under ``--out`` (a killed run resumes). Printed: per row, mean and std of mAP on both test sets and,
against Random, the paired differences' std and 95 % half-width; then the students' pooled std within a set.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from pathlib import Path

SHAPES = re.compile(r"^shapes(:\?(?P<query>.*))?$")


def _larger(dataset: str, n_test: int) -> str:
    """The same shapes generator with ``n_test`` test images (train images are not generated: n_train=1)."""
    m = SHAPES.match(dataset)
    if not m:
        raise SystemExit(f"{dataset}: only the built-in shapes dataset can grow its test split")
    query = [q for q in (m.group("query") or "").split("&") if q and not q.startswith(("n_train=", "n_test="))]
    return "shapes:?" + "&".join([*query, "n_train=1", f"n_test={n_test}"])


def _score(cell_dir: Path, result: dict, tests: dict, out: Path) -> dict:
    """The student's mAP on the reference test set (recomputed) and on the larger one, cached under ``out``."""
    done = out / cell_dir.name / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    from dcbench.api import Checkpoint
    from dcbench.evaluation.coco_eval import evaluate
    from dcbench.harness.identity import make_detector
    from dcbench.protocols import get_protocol

    c = result["config"]
    spec = c.get("eval_detector") or c["detector"]
    protocol = get_protocol(c["protocol"]["name"]).with_overrides(**(c["protocol"].get("overrides") or {}))
    student = Checkpoint(spec, cell_dir / result["student"]["checkpoint"], dict(result["student"]))
    large = tests[c["dataset"]]
    detections = make_detector(spec).predict(student, large, protocol=protocol, device="cpu")
    n_ref = int(result["data"]["test"])
    scores = {
        "cell": cell_dir.name,
        "stored_mAP": float(result["metrics"]["mAP"]),
        "reference_mAP": evaluate(large.subset(list(range(n_ref))), detections[:n_ref])["mAP"],
        "large_mAP": evaluate(large, detections)["mAP"],
        "n_reference": n_ref,
        "n_test": len(large),
    }
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(scores, indent=2))
    return scores


def _cells(folder: Path, ratio: float):
    """(cell folder, result, row) of every current cell at ``ratio`` on stored labels with a student on disk
    (rows on teacher labels have a Random of their own, which this leaves out)."""
    from dcbench.leaderboard.collect import is_stale, load_results

    frame = load_results(folder)
    frame = frame[frame["labels"] == "stored"]
    rows = dict(zip(frame["cell"], frame["label"]))
    for f in sorted(folder.glob("*/result.json")):
        r = json.loads(f.read_text())
        label = rows.get(r.get("cell"))
        if label is None or is_stale(label) or not math.isclose(r["config"].get("ratio") or 0, ratio):
            continue
        if (f.parent / (r.get("student") or {}).get("checkpoint", "-")).is_file():
            yield f.parent, r, label


def _extra_students(folder: Path):
    """(cell folder, result, set seed) of each student benchmarks/seed_variance.py trained on a reference set."""
    for f in sorted(folder.glob("*/result.json")):
        r = json.loads(f.read_text())
        if (f.parent / r["student"]["checkpoint"]).is_file():
            yield f.parent, r, int(r["condensed"]["manifest"]["seed"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("leaderboards/results/shapes-reference"))
    ap.add_argument("--students", type=Path, default=Path("benchmarks/results/seed-variance"))
    ap.add_argument("--ratio", type=float, default=0.01)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/test-set-size"))
    args = ap.parse_args()

    from dcbench.data.spec import load_dataset, resolve_train_test

    cells = list(_cells(args.results, args.ratio))
    extra = list(_extra_students(args.students)) if args.students.is_dir() else []
    datasets = {r["config"]["dataset"] for _, r, _ in cells + extra}
    tests = {d: resolve_train_test(load_dataset(_larger(d, args.n_test))).test for d in datasets}
    by_row: dict[str, dict[int, dict]] = {}
    for cell_dir, r, label in cells:
        by_row.setdefault(label, {})[int(r["config"]["seed"])] = _check(_score(cell_dir, r, tests, args.out))
    students: dict[int, dict[int, dict]] = {}  # set seed -> student seed -> scores (Random's sets)
    for cell_dir, r, set_seed in extra:
        students.setdefault(set_seed, {})[int(r["config"]["seed"])] = _check(_score(cell_dir, r, tests, args.out))
    for set_seed in students:
        if set_seed in by_row.get("random", {}):
            students[set_seed][set_seed] = by_row["random"][set_seed]
    _report(by_row, students, args.n_test)


def _check(scores: dict) -> dict:
    """The reference test set's score, recomputed from the larger split's first images, is the stored one."""
    if not math.isclose(scores["reference_mAP"], scores["stored_mAP"], abs_tol=1e-6):
        raise SystemExit(
            f"{scores['cell']}: {scores['reference_mAP']:.4f} mAP recomputed on the reference test images, "
            f"{scores['stored_mAP']:.4f} stored: the larger split does not start with the reference test set"
        )
    return scores


def _report(by_row: dict[str, dict[int, dict]], students: dict[int, dict[int, dict]], n_test: int) -> None:
    from dcbench.leaderboard.stats import paired, pooled_std

    random = by_row.get("random", {})
    n_ref = next(iter(random.values()))["n_reference"] if random else 0
    print(
        f"{'row':28s} {'seeds':>5s}   mAP, {n_ref} test images   mAP, {n_test} test images"
        "   vs random: diff std (half-width), on each"
    )
    for label, seeds in sorted(by_row.items()):
        line = f"{label:28s} {len(seeds):5d}"
        for key in ("reference_mAP", "large_mAP"):
            values = [s[key] for s in seeds.values()]
            line += (
                f"   {statistics.mean(values):8.2f} ± {statistics.stdev(values) if len(values) > 1 else 0:5.2f}      "
            )
        common = sorted(set(seeds) & set(random))
        if label != "random" and len(common) >= 3:
            for key in ("reference_mAP", "large_mAP"):
                diffs = [seeds[s][key] - random[s][key] for s in common]
                line += f"  {statistics.stdev(diffs):5.2f} ({paired(diffs).half_width:5.2f})"
        print(line)
    within = {key: [] for key in ("reference_mAP", "large_mAP")}
    for scores in students.values():
        if len(scores) > 1:
            for key in within:
                within[key].append([s[key] for s in scores.values()])
    for key, sets in within.items():
        pooled, dof = pooled_std(sets)
        if dof:
            size = n_ref if key == "reference_mAP" else n_test
            print(f"students of one set, pooled std on {size} test images ({len(sets)} sets, {dof} df): {pooled:.2f}")


if __name__ == "__main__":
    main()
