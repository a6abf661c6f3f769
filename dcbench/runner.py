"""dcbench from Python: one cell, a matrix, and the results as a pandas DataFrame. The CLI is a layer over it:
``dcbench run`` builds its cell with :func:`cell`, ``dcbench matrix`` is :func:`plan_matrix` and :func:`run_plan`,
and ``dcbench leaderboard`` reads results as :func:`load_results` does.

>>> import dcbench
>>> config = dcbench.cell("random", "yolo11n", 0.01, protocol="smoke", seed=1)
>>> result = dcbench.run_cell(config, out="runs")            # result.json's record; reused when it exists
>>> outcomes = dcbench.run_matrix("spec.toml", "runs/spec", seeds=[0])   # the cells of seed 0 not done yet
>>> frame = dcbench.load_results("runs")                     # one row per result.json under the folder

Errors a user can act on are :class:`dcbench.errors.DcbenchError` (one line, naming the file and the problem), as
on the command line. Nothing here imports torch until a cell runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from dcbench.harness.executors.outcome import Outcome
    from dcbench.harness.identity import CellConfig
    from dcbench.harness.matrix import MatrixSpec
    from dcbench.progress import Reporter
    from dcbench.results import ResultRecord


def cell(
    method: str = "random",
    detector: str = "yolo11n",
    ratio: float = 0.01,
    *,
    dataset: str = "shapes",
    test: str | None = None,
    protocol: str = "quick",
    seed: int = 0,
    eval_detector: str | None = None,
    options: dict[str, Any] | None = None,
    labels: str = "stored",
    label_score: float | None = None,
    teacher: str | Path | None = None,
    skip_bad_images: bool = False,
    **overrides: int | None,
) -> CellConfig:
    """A cell's configuration, checked: ``method`` condenses ``ratio`` of ``dataset``'s train split with
    ``detector`` (its teacher, when the method uses one), and a fresh ``eval_detector`` (default: ``detector``) is
    trained on the set under ``protocol`` and scored on the test split. ``options`` are the method's (as a matrix
    spec's options table); ``overrides`` are the protocol's (``imgsz``, ``epochs``, ``batch``, ``min_iterations``,
    ``student_repeats``, ``nominal_batch``). ``labels``: ``stored``, ``teacher`` or ``distill``."""
    from dcbench.budget import budget_for
    from dcbench.data.spec import dataset_identity
    from dcbench.harness.identity import CellConfig
    from dcbench.protocols import get_protocol
    from dcbench.results import DEFAULT_LABEL_SCORE, TEACHER

    if not 0 < ratio <= 1:  # before the dataset is named: naming the built-in one generates it
        budget_for(ratio, 1)  # raises the standard message
    if label_score is not None and labels != TEACHER:
        from dcbench.errors import ConfigError

        raise ConfigError("label_score applies only with labels='teacher'")
    config = CellConfig(
        method=method,
        detector=detector,
        ratio=ratio,
        seed=seed,
        protocol=get_protocol(protocol).with_overrides(**overrides),
        dataset=dataset,
        test_dataset=test,
        eval_detector=eval_detector,
        method_options=dict(options or {}),
        teacher_checkpoint=str(teacher) if teacher else None,
        dataset_id=dataset_identity(dataset),
        labels=labels,
        label_score=DEFAULT_LABEL_SCORE if label_score is None else label_score,
        skip_bad_images=skip_bad_images,
    )
    config.check_labels()
    return config


def existing_result(config: CellConfig, out: str | Path) -> ResultRecord | None:
    """The cell's finished result under ``out``, or None (none yet, or one that cannot be read: it is run again)."""
    from dcbench.harness.staleness import read_result

    return read_result(Path(out) / config.cell_name())


def run_cell(
    config: CellConfig,
    out: str | Path = "runs",
    *,
    device: str | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> ResultRecord:
    """Run the cell into ``out/<cell>/`` (condense or reuse the set, train, score, write result.json) and return its
    record; a finished result is returned as it is unless ``force``. ``device``: cpu, cuda or cuda:N (default: a
    GPU when there is one)."""
    from dcbench.device import resolve_device
    from dcbench.harness.cell import run_cell as run_in_harness
    from dcbench.io import usable_dir, writable_dir

    out = usable_dir(out)
    done = None if force else existing_result(config, out)
    if done is not None:
        return done
    writable_dir(out)
    return run_in_harness(config, out, device=resolve_device(device), reporter=reporter)


STATES = ("done", "stale", "damaged", "failed", "pending")  # harness.matrix.cell_state's, in the order shown


@dataclass(frozen=True)
class MatrixPlan:
    """A matrix spec's cells (sliced as asked) and the state of each under the results folder: what
    :func:`run_plan` runs and ``dcbench matrix --dry-run`` shows. ``target`` is where results go as the user named
    it (a folder, or a store URL); ``results`` is where they are read (for a store, a local mirror of its result
    files)."""

    spec: MatrixSpec
    cells: list[CellConfig]
    states: dict[str, str]
    target: Path | str
    results: Path

    @property
    def todo(self) -> list[CellConfig]:
        """The cells with no finished, current result: failed, damaged, stale and pending ones."""
        return [c for c in self.cells if self.states[c.cell_name()] != "done"]

    def summary(self) -> str:
        """``3 done, 2 pending``: how many cells are in each state."""
        counts = Counter(self.states.values())
        return ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])


def plan_matrix(
    spec: str | Path,
    out: str | Path | None = None,
    *,
    ratios: Sequence[float] = (),
    seeds: Sequence[int] = (),
    methods: Sequence[str] = (),
    skip_bad_images: bool = False,
    dry_run: bool = False,
) -> MatrixPlan:
    """Check the spec (its datasets are loaded, or generated) and find each cell's state under ``out`` (default
    ``runs/<spec name>``; a store URL such as ``s3://bucket/runs``, whose result files are mirrored to read them).
    Unless ``dry_run``, ``out`` is checked writable first, before any dataset is loaded."""
    from dcbench.harness.matrix import cell_state, load_spec, slice_cells
    from dcbench.io import resolved, usable_dir, writable_dir
    from dcbench.store import Store, is_url, mirror_dir

    store = Store(str(out)) if out is not None and is_url(str(out)) else None
    if not dry_run:
        if store is not None:
            store.check_writable()
        elif out is not None:
            usable_dir(out, what="results folder")
    matrix = load_spec(spec, skip_bad_images=skip_bad_images)
    target: Path | str
    if store is not None:
        target, results = store.url, store.sync_results(mirror_dir(store.url))
    else:
        results = resolved(Path(out) if out is not None else Path("runs") / matrix.name, what="results folder")
        target = results = results if dry_run else writable_dir(results, what="results folder")
    cells = matrix.cells()
    for field, wanted in (("ratio", ratios), ("seed", seeds), ("method", methods)):
        cells = slice_cells(cells, field, list(wanted), spec)
    states = {c.cell_name(): cell_state(results, c, matrix.fingerprints) for c in cells}
    return MatrixPlan(matrix, cells, states, target, results)


def run_plan(
    plan: MatrixPlan,
    *,
    executor: str = "local",
    device: str | None = None,
    reporter: Reporter | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    **executor_options: Any,
) -> list[Outcome]:
    """Run the plan's cells that are not done with ``executor`` (``local``, one after another; ``ray``, side by
    side, with its ``address`` and ``num_cpus``, and the spec's ``gpus_per_cell``); one :class:`Outcome` per cell,
    ``on_done`` called as each ends. A failed cell is recorded in its ``failed.json`` and the others go on."""
    import inspect

    from dcbench.errors import ConfigError
    from dcbench.harness.executors import get_executor

    run = get_executor(executor)
    takes = inspect.signature(run).parameters
    for name in executor_options:
        if name not in takes:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} does not apply to the {executor} executor")
    if not plan.todo:
        return []
    packing = plan.spec.gpus_per_cell
    if "gpus_per_cell" in takes:
        executor_options.setdefault("gpus_per_cell", packing)
    elif packing != 1 and reporter is not None:
        # a scheduling hint, not part of any cell: the spec still runs, one cell at a time on the whole GPU
        reporter.note(f"gpus_per_cell = {packing:g} applies to the ray executor; the {executor} executor ignores it")
    # each executor resolves the device where the work runs: here for local, on the cluster's resources for Ray
    return run(plan.todo, plan.target, device=device, reporter=reporter, on_done=on_done, **executor_options)


def run_matrix(
    spec: str | Path,
    out: str | Path | None = None,
    *,
    executor: str = "local",
    device: str | None = None,
    ratios: Sequence[float] = (),
    seeds: Sequence[int] = (),
    methods: Sequence[str] = (),
    skip_bad_images: bool = False,
    reporter: Reporter | None = None,
    **executor_options: Any,
) -> list[Outcome]:
    """Run every cell of the matrix spec that has no result yet under ``out`` (default ``runs/<spec name>``, or a
    store URL), optionally only those at ``ratios``, ``seeds`` or of ``methods``: :func:`plan_matrix`, then
    :func:`run_plan`. One :class:`Outcome` per cell run."""
    plan = plan_matrix(spec, out, ratios=ratios, seeds=seeds, methods=methods, skip_bad_images=skip_bad_images)
    return run_plan(plan, executor=executor, device=device, reporter=reporter, **executor_options)


def load_results(folder: str | Path, *, check_stale: bool = True) -> pd.DataFrame:
    """Every result.json under ``folder`` as one row: the cell's configuration, COCO's twelve numbers, compute,
    and the test classes its student saw no box of. A damaged file is skipped with a warning. With
    ``check_stale`` (as ``dcbench leaderboard`` does), a row its installed method would no longer make is labelled
    ``[stale]`` and its ``stale`` column names the settings that changed; without, no plugin is loaded."""
    from dcbench.harness.staleness import drift_check
    from dcbench.leaderboard.collect import load_results as collect

    return collect(folder, drift_check() if check_stale else None)
