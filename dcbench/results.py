"""The result of a cell, as a record: what ``result.json`` holds, its reading and writing, the one builder that
makes it for a cell and for ``dcbench eval``, and the words a record spells its settings in (label modes, the
full-data kind).

It sits below both the harness (which writes records) and the leaderboard (which reads them), so a table is built
from result files alone: no plugin is loaded and no model imported. What needs the installed plugins -- whether a
record is still what its method would make now -- is a :data:`DriftCheck` the caller passes in
(``dcbench.harness.staleness.drift_check``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from dcbench.errors import DatasetError
from dcbench.io import atomic_write_text, json_kind

# -- the result of a cell ------------------------------------------------------------------------------------------
RESULT_FILE = "result.json"
RESULT_SCHEMA = 2  # 2 added "plugin" (the package that provided the method); schema 1 files are still read


class ResultRecord(TypedDict, total=False):
    """One cell's ``result.json``, written atomically by the harness as its very last step (its presence means the
    cell is finished) and the only thing leaderboards and the matrix's resume logic read."""

    schema: int
    cell: str  # the cell's name: dataset identity, method, detector, variant, ratio, seed, protocol id
    status: str  # "ok"
    config: dict[str, Any]  # the CellConfig: method, detector, ratio, seed, protocol (all values), dataset, labels, ...
    method: dict[str, Any]  # name, variant (the options that name the row), options (describe(), all of them)
    plugin: dict[str, Any]  # schema 2: the distribution that registered the method (name, version), or "dcbench"
    detector: str
    eval_detector: str
    data: dict[str, Any]  # split sizes and rule, categories, train and test fingerprints
    budget: int
    effective_ratio: float
    warnings: list[str]
    teacher: dict[str, Any] | None  # where the Fetch teacher came from (None for cells that use none)
    condensed: dict[str, Any]  # path, images, boxes, manifest, whether reused and what making it took
    # with config["labels"] == "teacher": the score, the teacher, the stored set's boxes against the teacher's (the
    # student's); "condensed" is then the relabelled copy, with the stored set under condensed["stored"]
    labels: dict[str, Any]
    student: dict[str, Any]  # the trained evaluation detector: checkpoint, epochs, images
    # COCO's twelve (mAP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl) on a 0-100 scale, None =
    # undefined; and per_class_AP, {class name: AP or None}
    metrics: dict[str, Any]
    predictions: list[str]  # the students' test-set predictions beside result.json, COCO results files
    classes: dict[str, Any]  # test classes with no box in the set the student trained on, and in the train split
    evaluator: dict[str, str | None]  # the COCO evaluator that scored it (name, version); absent in older results
    metrics_per_student: list[dict[str, Any]]  # with protocol.student_repeats > 1: metrics is their mean
    timings: dict[str, float]  # seconds per stage
    device: dict[str, Any]  # name, model; on a CPU also cores and torch threads (absent in older results)
    environment: dict[str, str | None]  # library versions (None: not installed), machine
    git: dict[str, object] | None  # revision and whether the tree was dirty; None outside a git checkout
    finished: str  # ISO time


_REQUIRED = ("cell", "config", "metrics", "budget", "condensed", "method")
# what each required key must hold: a leaderboard or the matrix reads them without checking again
_REQUIRED_TYPES = {"cell": str, "config": dict, "metrics": dict, "budget": int, "condensed": dict, "method": dict}


def read_result_record(path: str | Path) -> ResultRecord:
    """A result file as a ResultRecord (schema 1 files upgraded); a one-line DatasetError naming the file when it
    is not one: unreadable, not UTF-8 JSON, not an object, a required key missing or of the wrong type, a schema
    that is not a whole number, or one newer than this dcbench reads (never taken for an older one)."""
    path = Path(path)

    def bad(problem: str) -> DatasetError:
        return DatasetError(path, f"not a dcbench result file ({problem})")

    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise bad(f"{type(exc).__name__}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError, as is an int too long to read
        raise bad(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(record, dict):
        raise bad("not a JSON object")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise bad(f"KeyError: {missing[0]!r}")
    for key, kind in _REQUIRED_TYPES.items():
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise bad(f"{key!r} is {json_kind(record[key])}, expected {json_kind(kind())}")
    schema = record.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise bad(f"schema {json.dumps(schema)[:40]} is not a schema number")
    if schema > RESULT_SCHEMA:
        raise DatasetError(
            path, f"written by a newer dcbench (result schema {schema}; this one reads up to {RESULT_SCHEMA})"
        )
    if schema < 2:
        record.setdefault("plugin", {"name": "unknown (schema 1)", "version": None})
    return record  # type: ignore[return-value]


def write_result(cell_dir: Path, record: ResultRecord) -> Path:
    """Write ``record`` as ``cell_dir/result.json``, atomically: the cell's very last step, so a result file that
    exists is a whole one."""
    path = Path(cell_dir) / RESULT_FILE
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


PREDICTIONS_FILE = "predictions.json"  # beside result.json: the first student's test-set predictions


def prediction_files(n_students: int) -> list[str]:
    """The predictions of a cell's students: COCO results lists (``image_id`` k + 1 is the k-th image of the test
    split, ``category_id`` c + 1 its c-th class; ``bbox`` x, y, w, h in the image's pixels), at most 100 per image."""
    return [PREDICTIONS_FILE] + [f"predictions-{r}.json" for r in range(1, n_students)]


def mean_metrics(per_student: Sequence[dict]) -> dict:
    """Each metric's mean over the students (undefined where a student left it undefined)."""
    if len(per_student) == 1:
        return per_student[0]

    def mean(values: list) -> Any:
        if any(v is None for v in values):
            return None
        if isinstance(values[0], dict):  # per_class_AP: a mean per class
            return {k: mean([v.get(k) for v in values]) for k in values[0]}
        return sum(values) / len(values)

    return {k: mean([m.get(k) for m in per_student]) for k in per_student[0]}


def build_result(
    cell: str,
    config: dict[str, Any],
    *,
    per_student: Sequence[dict],
    provenance: Mapping[str, object],
    **parts: Any,
) -> ResultRecord:
    """The one builder of a result record, for a cell and for an external set (``dcbench eval``): the schema and
    status, the cell's name and config, ``parts`` (method, plugin, detector, data, budget, condensed, student,
    timings, ...: the :class:`ResultRecord` keys), the metrics (the students' mean, each student's too when there
    are several), the students' prediction files, and the run's provenance (environment, device, git, finished)."""
    record: dict[str, Any] = {"schema": RESULT_SCHEMA, "cell": cell, "status": "ok", "config": config, **parts}
    record["metrics"] = mean_metrics(per_student)
    if len(per_student) > 1:
        record["metrics_per_student"] = list(per_student)
    record["predictions"] = prediction_files(len(per_student))
    record.update(provenance)
    return record  # type: ignore[return-value]


# -- the words a record spells its settings in ----------------------------------------------------------------------
FULL_KIND = "full train split"  # the condensed "kind" of a full-data cell, how leaderboards find the upper-bound row

# where a cell's student took its boxes from (``config["labels"]``); dcbench.harness.labels makes them
STORED, TEACHER, DISTILL = "stored", "teacher", "distill"
LABEL_MODES = (STORED, TEACHER, DISTILL)
# the score OD3's plugin keeps observer labels at (plugins/dcbench-od3, ``label_score``), itself the YOLO cut-off
# the OD3 code screens with: one threshold for "the teacher's boxes" across dcbench
DEFAULT_LABEL_SCORE = 0.25


def setting_text(mode: str, score: float | None) -> str:
    """A label setting in words: ``stored``, ``teacher``, or ``teacher, score >= 0.3`` (a score other than the
    default spelled out). Leaderboards compare a row with the Random row of the same setting."""
    if mode == STORED:
        return STORED
    shown = score is not None and not math.isnan(score) and score != DEFAULT_LABEL_SCORE
    return mode + (f", score >= {score:g}" if shown else "")


def row_suffix(mode: str, score: float | None) -> str:
    """What a leaderboard row's label gets for its label mode: nothing for ``stored`` (rows named before label
    modes keep their names), `` [teacher labels]`` or `` [teacher labels, score >= 0.3]``, `` [distilled]``."""
    if mode == STORED:
        return ""
    if mode == DISTILL:
        return " [distilled]"
    return f" [{mode} labels{setting_text(mode, score)[len(mode) :]}]"


# -- staleness, passed in --------------------------------------------------------------------------------------------
DriftCheck = Callable[[ResultRecord], Sequence[str]]
"""The method settings a finished record was made with that its method, as installed now, no longer runs with
(empty: current). Readers of records take one from their caller; without one every record counts as current."""
