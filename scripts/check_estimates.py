"""How good are ``dcbench matrix --dry-run``'s time estimates? Every finished result under a results folder against
the estimate of the same cell, per stage: the Fetch teacher (where the cell trained it), the condensing (where the
cell made its set) and the student.

    python scripts/check_estimates.py                        # leaderboards/results
    python scripts/check_estimates.py runs/my-spec

Each cell is estimated as ``dcbench.harness.estimate`` estimates a pending one (``cell_cost``), its dataset's size
taken from the result's ``data`` section, on two bases:

* ``reference``: the reference machine's figures alone (``MEASURED``), what a dry run into an empty folder says;
* ``folder``: with the seconds per step measured by the results in the cell's own folder, on the machine the cell
  ran on, what a dry run continuing that folder says. In-sample: those results include this one.

Nothing is trained. The ratio actual/estimate is per cell; its median says how far off a dry run is, and the
10th-90th percentile range how much one cell can differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path

STAGES = ("teacher", "condensing", "student")


@dataclass
class Tally:
    """Per stage and basis: each cell's actual and estimated seconds."""

    pairs: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    unmodelled: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # method -> seconds
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # reason -> files


def protocol_of(record: dict):
    """The protocol a result ran under, from its record (fields added later take their defaults)."""
    from dcbench.protocols import Protocol

    d = record["config"]["protocol"]
    known = {f.name for f in fields(Protocol)} - {"overrides"}
    return Protocol(
        **{k: v for k, v in d.items() if k in known}, overrides=tuple(sorted(d.get("overrides", {}).items()))
    )


def cell_of(record: dict):
    """The cell a result is of, as a matrix would have made it."""
    from dcbench.harness.identity import CellConfig
    from dcbench.results import DEFAULT_LABEL_SCORE, STORED

    c = record["config"]
    return CellConfig(
        method=c["method"],
        detector=c["detector"],
        ratio=float(c["ratio"]),
        seed=int(c["seed"]),
        protocol=protocol_of(record),
        dataset=c["dataset"],
        test_dataset=c.get("test_dataset"),
        eval_detector=c.get("eval_detector"),
        method_options=dict(c.get("method_options") or {}),
        teacher_checkpoint=c.get("teacher_checkpoint"),
        dataset_id=c.get("dataset_id"),
        labels=c.get("labels") or STORED,
        label_score=c.get("label_score", DEFAULT_LABEL_SCORE),
    )


def actual_seconds(record: dict, cell) -> dict[str, float]:
    """The stages this cell did itself, with their recorded seconds: a teacher read from the cache, or a set another
    cell made, was timed where it was made (counted there, once)."""
    found = {}
    teacher = record.get("teacher") or {}
    if teacher.get("source") == "trained":
        found["teacher"] = float(teacher["train_s"])
    if cell.student_is_teacher():
        return found  # the full-data row's training is its teacher's
    condensed = record.get("condensed") or {}
    made_here = condensed.get("made_by", record["cell"]) == record["cell"] and not condensed.get("reused")
    seconds = (condensed.get("timings") or {}).get("condense_s")
    if made_here and seconds is not None:
        found["condensing"] = float(seconds)
    found["student"] = float(record["timings"]["train_s"])
    return found


class Bases:
    """The step costs of each basis, made once per results folder and machine."""

    def __init__(self) -> None:
        from dcbench.harness.estimate import MEASURED, MeasuredCosts

        self.reference = MeasuredCosts(dict(MEASURED), dict(MEASURED))
        self._folders: dict[tuple[Path, str | None], object] = {}

    def of(self, folder: Path, machine: str | None) -> dict[str, object]:
        from dcbench.harness.estimate import measured_costs

        if (folder, machine) not in self._folders:
            self._folders[(folder, machine)] = measured_costs(folder, machine)
        return {"reference": self.reference, "folder": self._folders[(folder, machine)]}


def check_one(path: Path, bases: Bases, tally: Tally) -> None:
    from dcbench.errors import DcbenchError
    from dcbench.harness.estimate import cell_cost
    from dcbench.results import read_result_record

    try:
        record = dict(read_result_record(path))
        cell = cell_of(record)
        actual = actual_seconds(record, cell)
        n, classes = int(record["data"]["train"]), len(record["data"]["categories"])
        machine = (record.get("device") or {}).get("model")
        costs = {b: cell_cost(cell, n, c, classes) for b, c in bases.of(path.parent.parent, machine).items()}
    except (OSError, ValueError, KeyError, TypeError, DcbenchError) as exc:
        tally.skipped[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        return
    for basis, cost in costs.items():
        if cost.unknown:
            tally.skipped[f"no figure for {', '.join(sorted(cost.unknown))}"] += 1
            continue
        estimated = {"teacher": cost.teacher_s, "condensing": cost.condense_s, "student": cost.student_s}
        for stage, seconds in actual.items():
            if estimated[stage] > 0:
                tally.pairs[(stage, basis)].append((seconds, estimated[stage]))
            elif basis == "reference":  # a method that tells the estimate nothing of its condensing
                tally.unmodelled[cell.method].append(seconds)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(tally: Tally, files: int, folder: Path) -> None:
    skipped = sum(tally.skipped.values())
    print(f"{files} result files under {folder}; estimated as pending cells ({skipped} estimates skipped)")
    print(f"{'stage':11s} {'basis':9s} {'cells':>5s} {'actual h':>9s} {'estimate h':>10s}   actual/estimate")
    for stage in STAGES:
        for basis in ("reference", "folder"):
            pairs = tally.pairs.get((stage, basis), [])
            if not pairs:
                continue
            ratios = [a / e for a, e in pairs]
            actual, est = sum(a for a, _ in pairs) / 3600, sum(e for _, e in pairs) / 3600
            spread = f"[{_quantile(ratios, 0.1):.2f}-{_quantile(ratios, 0.9):.2f}]"
            print(
                f"{stage:11s} {basis:9s} {len(pairs):5d} {actual:9.2f} {est:10.2f}   "
                f"median {statistics.median(ratios):.2f} {spread} (10th-90th percentile)"
            )
    if tally.unmodelled:
        free = ", ".join(f"{m} {len(s)} sets {sum(s) / 3600:.2f} h" for m, s in sorted(tally.unmodelled.items()))
        print(f"condensing the estimate counts as free (no estimated_steps): {free}")
    for reason, count in sorted(tally.skipped.items()):
        print(f"skipped {count}: {reason}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "results", nargs="?", default="leaderboards/results", help="a results folder (searched recursively)"
    )
    args = ap.parse_args(argv)
    folder = Path(args.results)
    if not folder.is_dir():
        print(f"error: {folder}: not a results folder", file=sys.stderr)
        return 2
    files = sorted(folder.rglob("result.json"))
    if not files:
        print(f"error: {folder}: no result.json under it", file=sys.stderr)
        return 2
    tally, bases = Tally(), Bases()
    for path in files:
        check_one(path, bases, tally)
    report(tally, len(files), folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
