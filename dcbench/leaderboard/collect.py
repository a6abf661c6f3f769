"""Read result files into one flat table: one row per finished cell. Nothing else feeds a leaderboard.

It reads records alone (``dcbench.results``): no plugin is loaded. Whether a row is still what its method makes now
is a :data:`~dcbench.results.DriftCheck` the caller passes in (the CLI passes ``harness.staleness.drift_check()``);
without one, no row is marked stale."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from dcbench.errors import DatasetError
from dcbench.evaluation.coco_eval import ALL_METRICS
from dcbench.results import (
    FULL_KIND,
    RESULT_FILE,
    STORED,
    DriftCheck,
    ResultRecord,
    read_result_record,
    row_suffix,
    setting_text,
)

log = logging.getLogger(__name__)

REFERENCE_METHOD = "random"  # the paper's deltas are against Random
NO_TRAIN_SET = "no train set"  # the dataset of a set scored by ``dcbench eval`` without --train (no ratio either)


def _variant_text(variant: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(variant.items()))


def label_mode(record: Mapping) -> str:
    """Where a cell's training labels came from: ``stored`` (the condensed set's own boxes) or ``teacher`` (the
    Fetch teacher's), as the cell's config records it. Results made before cells recorded it used the stored
    labels."""
    config = record.get("config") or {}
    return str(config.get("labels") or STORED)


def label_setting(record: Mapping) -> tuple[str, float | None]:
    """The label mode and, for teacher labels, the score the teacher's boxes were kept at."""
    mode = label_mode(record)
    score = (record.get("config") or {}).get("label_score")
    return mode, None if mode == STORED or score is None else float(score)


def row_label(
    method: str,
    variant: dict,
    condensed_with: str,
    eval_detector: str,
    full: bool,
    labels: tuple[str, float | None] = (STORED, None),
) -> str:
    """What a table row is called, derived from the result alone: ``dcod (fbd=false, ipe=false)``, with its label
    mode when not stored (``random [teacher labels]``), and for the cross-architecture table
    ``random [condensed with yolov3-tiny]``."""
    if full:
        return "full train set"
    label = method + (f" ({_variant_text(variant)})" if variant else "") + row_suffix(*labels)
    if condensed_with != eval_detector:
        label += f" [condensed with {condensed_with}]"
    return label


STALE_SUFFIX = " [stale]"  # a row made by an older version of its method (the DriftCheck said so)


def is_stale(label: str) -> bool:
    """Whether a row's label marks it stale: not the method as it runs now (tables, verdicts and plots set such
    rows apart)."""
    return label.endswith(STALE_SUFFIX)


def protocol_text(protocol: dict) -> str:
    """``quick`` or, for a protocol with overrides, ``quick with min_iterations=1500``: what the id's digest hides."""
    overrides = protocol.get("overrides") or {}
    changed = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    name = protocol.get("name") or protocol["protocol_id"]
    return f"{name} with {changed}" if changed else name


def _compute(r: Mapping[str, Any], full: bool) -> dict:
    """What the cell cost: seconds to make its condensed set (even when another cell made it and this one reused
    it), to train its student (for the full-data row: its teacher), the cell's own wall time, and the device; and
    the labelled boxes per image the student trained on (a packed canvas carries more than a real image)."""
    timings = r.get("timings") or {}
    condensed = r["condensed"]
    condensed_t = condensed.get("timings") or {}
    images, boxes = condensed.get("images"), condensed.get("boxes")
    student_s = (r.get("teacher") or {}).get("train_s") if full else timings.get("train_s")
    features = (condensed.get("manifest") or {}).get("features") or {}
    return {
        "condense_s": condensed_t.get("condense_s", timings.get("condense_s")),
        "student_s": student_s,
        # the Fetch teacher a row needs (its method's or its labels'): what it cost to train, cached or not
        "teacher_s": None if full else (r.get("teacher") or {}).get("train_s"),
        "total_s": timings.get("total_s"),
        "device": (r.get("device") or {}).get("name"),
        "_timed_on": timed_on(r.get("device") or {}),
        "boxes_per_image": boxes / images if images and boxes is not None else None,
        "_features": features.get("cache_key"),
        "_features_cached": bool(features.get("cached")),
        "_feature_s": (condensed.get("manifest") or {}).get("feature_s"),
        "_extract_s": features.get("extract_s"),
    }


def _class_coverage(r: Mapping[str, Any]) -> dict:
    """How many test classes the cell's student saw no box of, in its set and in the whole train split, of how many
    (None for results from before cells recorded it)."""
    classes = r.get("classes") or {}
    counts = {
        "missing_in_set": classes.get("without_box_in_set"),
        "missing_in_train": classes.get("without_box_in_train_split"),
        "test_classes": classes.get("test_classes"),
    }
    return {k: len(v) if isinstance(v, list) else v if isinstance(v, int) else None for k, v in counts.items()}


def timed_on(device: Mapping[str, Any]) -> str | None:
    """The machine a cell's timings come from, as far as its record says: a GPU's name, or a CPU's model with the
    threads torch used; None where the record does not say (a CPU result from before dcbench recorded threads)."""
    name, model = device.get("name"), device.get("model")
    if not name:
        return None
    if name != "cpu":
        return str(model or name)
    if device.get("threads") is None:
        return None
    threads = int(device["threads"])
    return f"{model}, {threads} thread{'s' * (threads != 1)} of {device.get('cores', '?')} cores"


def _charge_shared_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A selection method that read features another cell extracted (K-Center and Herding share the teacher's
    features of the pool) is charged the extraction it reused: otherwise whichever of them runs second looks free,
    and the compute columns rank run order, not methods. The cost is the one the feature cache recorded with the
    features; for features cached before it did, the one measured by the cell of this tree that extracted them."""
    key, cached = frame.pop("_features"), frame.pop("_features_cached")
    feature_s = pd.to_numeric(frame.pop("_feature_s"), errors="coerce")
    recorded = pd.to_numeric(frame.pop("_extract_s"), errors="coerce")
    made = ~cached & key.notna() & feature_s.notna()
    measured = key.map(feature_s[made].groupby(key[made]).first())
    cost = recorded.where(recorded.notna(), measured)
    reused = cached & cost.notna() & frame["condense_s"].notna()
    if reused.any():
        frame["condense_s"] = pd.to_numeric(frame["condense_s"])
        frame.loc[reused, "condense_s"] += cost[reused] - feature_s[reused].fillna(0.0)
    return frame


# the columns the tables group and label rows by, and those they average: what a result file held there must be
# text, or a number (None: not recorded)
_TEXT_COLUMNS = ("dataset", "eval_detector", "protocol", "protocol_text", "label", "method", "condensed_with", "cell")
_OPTIONAL_TEXT = ("device", "_timed_on", "_features")
_TIMINGS = ("condense_s", "student_s", "teacher_s", "total_s", "boxes_per_image", "_feature_s", "_extract_s")
_COUNTS = ("missing_in_set", "missing_in_train", "test_classes")
_NUMBER_COLUMNS = (*ALL_METRICS, "ratio", *_TIMINGS, *_COUNTS)


def _check_row(row: dict) -> None:
    """A TypeError (caught with the others: the file is skipped) when a row holds what the tables cannot use."""
    for column in (*_TEXT_COLUMNS, *_OPTIONAL_TEXT):
        if not isinstance(row[column], str) and (row[column] is not None or column in _TEXT_COLUMNS):
            raise TypeError(f"{column} is {type(row[column]).__name__}, expected text")
    for column in _NUMBER_COLUMNS:
        value = row[column]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise TypeError(f"{column} is {type(value).__name__}, expected a number")


def _row(r: ResultRecord, drift: DriftCheck | None) -> dict:
    """The table row of one result record (a KeyError, TypeError or ValueError when it is not a result)."""
    cfg = r["config"]
    eval_detector = cfg.get("eval_detector") or cfg["detector"]
    # a set made without a teacher (Random, ...) does not depend on the detector: it is the same set
    # whichever detector the cell names, so it is this table's own row (and Random its reference)
    condensed_with = cfg["detector"] if r.get("teacher") else eval_detector
    full = r["condensed"].get("manifest", {}).get("kind") == FULL_KIND
    variant = r["method"].get("variant", {})
    labels = label_setting(r)
    drifted = list(drift(r)) if drift is not None else []
    return {
        "dataset": (cfg.get("dataset_id") or cfg["dataset"] or NO_TRAIN_SET)
        + (f" | test {cfg['test_dataset']}" if cfg.get("test_dataset") else ""),
        "eval_detector": eval_detector,
        "protocol": cfg["protocol"]["protocol_id"],
        "protocol_text": protocol_text(cfg["protocol"]),
        # a result may name its own row (dcbench eval's "external:<set>"); else it follows from the method
        "label": (
            r["method"].get("label") or row_label(cfg["method"], variant, condensed_with, eval_detector, full, labels)
        )
        + (STALE_SUFFIX if drifted else ""),
        "stale": ", ".join(drifted),
        # which Random row a row is compared with: the one trained on labels of the same kind
        "labels": setting_text(*labels),
        "method": cfg["method"],
        "variant": _variant_text(variant),
        "condensed_with": condensed_with,
        "full": full,
        # one set whatever the seed (an external set): its seeds are not Random's, it is compared unpaired
        "fixed_set": bool(r["method"].get("fixed_set", False)),
        # no ratio: a set scored without a train set to take one against
        "ratio": math.nan if cfg["ratio"] is None else float(cfg["ratio"]),
        "budget": int(r["budget"]),
        "seed": int(cfg["seed"]),
        "cell": r["cell"],
        **{m: r["metrics"].get(m) for m in ALL_METRICS},
        **_compute(r, full),
        **_class_coverage(r),
    }


def load_results(root: str | Path, drift: DriftCheck | None = None) -> pd.DataFrame:
    """One row per result file under ``root``. A file that is not a readable result (damaged, of a newer dcbench,
    or holding values of the wrong kind) is skipped with a warning naming it, and the table is made of the rest:
    one bad file must not hide a whole results tree. Only when nothing valid is left is it an error. ``drift``:
    the staleness check that marks a row ``[stale]`` (none: every row counts as current)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "results folder not found")
    rows: list[dict] = []
    skipped: list[DatasetError] = []
    for f in sorted(root.rglob(RESULT_FILE)):
        try:
            r = read_result_record(f)
        except DatasetError as exc:
            skipped.append(exc)
            continue
        built = len(rows)
        try:
            rows.append(_row(r, drift))
            _check_row(rows[-1])
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            del rows[built:]  # built, then found to hold a value of the wrong kind
            skipped.append(DatasetError(f, f"not a dcbench result file ({type(exc).__name__}: {exc})"))
    if not rows:
        if skipped:
            raise DatasetError(root, f"no valid {RESULT_FILE} under this folder: {skipped[0]}")
        raise DatasetError(root, f"no {RESULT_FILE} files under this folder")
    for problem in skipped:
        log.warning("%s; skipped", problem)
    frame = _charge_shared_features(pd.DataFrame(rows))
    dupes = frame[frame.duplicated(["dataset", "eval_detector", "protocol", "label", "ratio", "seed"], keep=False)]
    if len(dupes):
        cells = ", ".join(sorted(dupes["cell"].unique())[:3])
        raise DatasetError(root, f"the same cell appears more than once (e.g. {cells}): point at one results tree")
    return frame
