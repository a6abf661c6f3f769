"""Where a student's boxes come from: the label mode of a cell (issue #16, part 3).

* ``stored`` (the default): the condensed set's own boxes, as every cell before label modes trained on.
* ``teacher``: every condensed image relabelled with the Fetch teacher's detections at or above ``label_score``,
  the teacher being the condensing detector's at the cell's seed (DCOD's own). This asks how much of a method's
  gain over Random is its images and how much the labels they carry: Random with teacher labels is the reference
  such a row is compared with.
* ``distill``: the condensed set's own boxes (recorded as ``boxes: stored``) plus feature distillation (PKD,
  ``dcbench.detectors.distill``) from the same frozen Fetch teacher, as OD3 evaluates condensed sets: how much of a
  method's score a teacher's guidance adds to its images. The student's backend must support it (``distills``).

A relabelled set is a copy of the stored one (the same image files, the teacher's boxes) in
``OUT/condensed/<stored set>__labels=teacher+label_score=S__teacher-<key>/``, named by everything that determines
it, written like any condensed set (the set renamed into place, then ``condense.json``) and reused by every cell
that needs it while the stored set it came from is byte for byte the same.

The modes' names, and how a leaderboard spells them, are the record's words: ``dcbench.results`` holds them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from dcbench.artifacts.content import content_fingerprint
from dcbench.condensed import MANIFEST, CondensedSet, load_condensed, write_condensed
from dcbench.errors import ConfigError
from dcbench.io import atomic_write_text
from dcbench.results import DEFAULT_LABEL_SCORE, DISTILL, LABEL_MODES, STORED, TEACHER

log = logging.getLogger(__name__)

NEEDS_TEACHER = (TEACHER, DISTILL)  # the modes whose students need the condensing detector's Fetch teacher
RELABEL_VERSION = 1  # bump when the same teacher and score would give other boxes: older copies are then redone
RECORD = "condense.json"  # the record beside the set, as for a condensed set (dcbench.artifacts.locate reads it)


def check_distillation(student, teacher) -> None:
    """Before anything trains (a teacher can take hours): the student's backend must train distilled students
    (``distills``), from the condensing detector's teacher (its optional ``check_distill_teacher`` says whether it
    can, in one line)."""
    if not getattr(student, "distills", False):
        raise ConfigError(
            f"labels=distill: the {student.name} backend does not train distilled students (the Ultralytics and "
            f"torchvision backends do)"
        )
    check = getattr(student, "check_distill_teacher", None)
    if check is not None:
        check(teacher)


def check_labels(mode: Any, score: Any) -> float:
    """``score`` as a float when ``mode`` and ``score`` make a label setting; else a one-line ConfigError."""
    if mode not in LABEL_MODES:
        raise ConfigError(f"labels {mode!r} is not a label mode (use one of: {', '.join(LABEL_MODES)})")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score) or not 0 <= score <= 1:
        raise ConfigError(f"label_score {score!r} is not a detection score in [0, 1]")
    return float(score)


def name_parts(mode: str, score: float) -> list[str]:
    """The part of a cell's name that says its label mode: none for ``stored``, so that every cell named before
    label modes existed keeps its name (and its finished result)."""
    if mode == STORED:
        return []
    return [f"labels={mode}" + ("" if score == DEFAULT_LABEL_SCORE else f"+label_score={score:g}")]


def relabelled_name(stored_name: str, score: float, teacher_id: str) -> str:
    """The folder of a relabelled copy: the stored set's name, the mode and score (always spelled out: this name
    never existed without them) and the teacher's cache key."""
    return f"{stored_name}__labels={TEACHER}+label_score={score:g}__teacher-{teacher_id}"


def teacher_boxes(dets, width: int, height: int, score: float) -> tuple[np.ndarray, np.ndarray]:
    """The detections at or above ``score``, clipped to the image; boxes under a pixel after clipping are left out
    (a student cannot learn from them, and the dataset validation would drop them anyway)."""
    keep = dets.scores >= score
    boxes = dets.boxes[keep].astype(np.float32).copy()
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    valid = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return boxes[valid], dets.labels[keep][valid].astype(np.int64)


def cached_copy(workdir: Path, source_fingerprint: str) -> tuple[CondensedSet, dict] | None:
    """The relabelled copy in ``workdir`` and its record, when it is complete and was made from a stored set with
    this content fingerprint by this version of the relabelling; else None (it is made again)."""
    record_file = workdir / RECORD
    if not ((workdir / "condensed" / MANIFEST).is_file() and record_file.is_file()):
        return None
    try:
        record = json.loads(record_file.read_text())
    except json.JSONDecodeError:
        return None
    labels = record.get("labels") or {}
    if labels.get("source_fingerprint") != source_fingerprint or labels.get("version") != RELABEL_VERSION:
        log.info("relabelled set %s: made from another stored set or by an older dcbench; again", workdir.name)
        return None
    return load_condensed(workdir / "condensed"), record


def relabel(
    condensed: CondensedSet, teacher, *, score: float, workdir: Path, teacher_id: str, teacher_record: dict | None
) -> tuple[CondensedSet, dict]:
    """Write the teacher-labelled copy of ``condensed`` into ``workdir`` (the set, then its record) and return
    (the copy, the record). The teacher sees the condensed images themselves, through its backend's public
    ``predict``, at the protocol it was trained with."""
    started = time.perf_counter()
    stored = condensed.dataset
    dets = teacher.backend.predict(teacher.checkpoint, stored, protocol=teacher.protocol, device=teacher.device)
    if len(dets) != len(stored):
        raise ConfigError(f"the teacher returned detections for {len(dets)} of {len(stored)} condensed images")
    images = []
    for im, det in zip(stored.images, dets):
        boxes, labels = teacher_boxes(det, im.width, im.height, score)
        images.append(replace(im, boxes=boxes, labels=labels, ignore=np.zeros(len(labels), dtype=bool)))
    relabelled = replace(stored, images=images, name=f"{stored.name}+teacher-labels")
    info = {
        "mode": TEACHER,
        "score": score,
        "teacher": teacher_id,
        "stored_boxes": stored.n_boxes,
        "teacher_boxes": relabelled.n_boxes,
        "source": condensed.path.parent.name,
        "source_fingerprint": content_fingerprint(stored),
        "version": RELABEL_VERSION,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / RECORD).unlink(missing_ok=True)  # an outdated copy's record must not vouch for a half-written one
    copy = write_condensed(relabelled, workdir / "condensed", {**condensed.manifest, "labels": info})
    record = {
        "cell": workdir.name,
        "teacher": teacher_record,
        "labels": info,
        "timings": {"relabel_s": round(time.perf_counter() - started, 3)},
    }
    # written after the set: its presence means the copy is complete
    atomic_write_text(workdir / RECORD, json.dumps(record, indent=2, default=str) + "\n")
    log.info("relabelled set %s: %d teacher boxes for %d stored", workdir.name, info["teacher_boxes"], stored.n_boxes)
    return copy, record
