"""dcbench from Python: one cell, a matrix, and the results as a pandas DataFrame. The CLI's ``run`` builds its
cell with :func:`cell` and ``dcbench leaderboard`` reads results with :func:`load_results`.

>>> import dcbench
>>> config = dcbench.cell("random", "yolo11n", 0.01, protocol="smoke", seed=1)
>>> result = dcbench.run_cell(config, out="runs")            # result.json's record; reused when it exists
>>> frame = dcbench.load_results("runs")                     # one row per result.json under the folder

Errors a user can act on are :class:`dcbench.errors.DcbenchError` (one line, naming the file and the problem), as
on the command line. Nothing here imports torch until a cell runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from dcbench.api import ResultRecord
    from dcbench.harness.executors.outcome import Outcome
    from dcbench.harness.identity import CellConfig
    from dcbench.progress import Reporter


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
) -> list[Outcome]:
    """Run every cell of the matrix spec that has no result yet under ``out`` (default ``runs/<spec name>``),
    optionally only those at ``ratios``, ``seeds`` or of ``methods``; one :class:`Outcome` per cell run (a failed
    cell is recorded in its ``failed.json`` and the others go on)."""
    from dcbench.errors import ConfigError
    from dcbench.harness.executors import get_executor
    from dcbench.harness.matrix import cell_state, load_spec, slice_cells
    from dcbench.io import writable_dir
    from dcbench.store import is_url

    if out is not None and is_url(str(out)):
        raise ConfigError(
            f"{out}: run_matrix writes to a local folder; into a store: dcbench matrix {spec} --out {out}"
        )
    matrix = load_spec(spec, skip_bad_images=skip_bad_images)
    results = writable_dir(Path(out) if out is not None else Path("runs") / matrix.name, what="results folder")
    cells = matrix.cells()
    for field, wanted in (("ratio", ratios), ("seed", seeds), ("method", methods)):
        cells = slice_cells(cells, field, list(wanted), spec)
    todo = [c for c in cells if cell_state(results, c, matrix.fingerprints) != "done"]
    return get_executor(executor)(todo, results, device=device, reporter=reporter) if todo else []


def load_results(folder: str | Path, *, check_stale: bool = True) -> pd.DataFrame:
    """Every result.json under ``folder`` as one row: the cell's configuration, COCO's twelve numbers, compute,
    and the test classes its student saw no box of. A damaged file is skipped with a warning. With
    ``check_stale`` (as ``dcbench leaderboard`` does), a row its installed method would no longer make is labelled
    ``[stale]`` and its ``stale`` column names the settings that changed; without, no plugin is loaded."""
    from dcbench.harness.staleness import drift_check
    from dcbench.leaderboard.collect import load_results as collect

    return collect(folder, drift_check() if check_stale else None)
