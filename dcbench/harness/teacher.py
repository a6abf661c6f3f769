"""Fetch: the teacher detector trained on the full train split, cached by what determines it.

Key = (train-set fingerprint, detector and its training recipe's version, the protocol values that shape a training,
seed). Every ratio, every method variant and every protocol that trains the full set the same way (say, one that
differs only in DCOD's forge length or in the floor of steps for small sets) reuses the one checkpoint. The cache entry is written under a temporary
name and renamed, so a killed training never leaves a checkpoint that looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from dcbench.api import Checkpoint, Teacher
from dcbench.cache import cache_dir
from dcbench.data.model import DetectionDataset
from dcbench.errors import ConfigError
from dcbench.io import exclusive, os_error_at, remove_dead_partials, sha256_file, stable_hash

if TYPE_CHECKING:
    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol

log = logging.getLogger(__name__)

# protocol fields that do not change how the full train set is trained: the forge's, and the labels; epochs and
# min_iterations enter through the epochs the full set gets (Protocol.epochs_for)
NOT_TEACHER_FIELDS = (
    "student_repeats",
    "description",
    "name",
    "overrides",
    "forge_iterations",
    "forge_batch",
    "epochs",
    "min_iterations",
)


def teacher_detector_id(backend) -> str:
    """The detector part of a teacher's key: its name, plus ``+recipe<N>`` when the backend declares a
    ``recipe_version`` (optional, see ``dcbench.api.DetectorBackend``). A backend bumps it when its training recipe
    changes under the same name (the classic YOLOv3 gaining mosaic), so a teacher trained by the old recipe is never
    reused as if it were the new one; a backend without one keeps the keys it always had."""
    version = getattr(backend, "recipe_version", None)
    return backend.name if version is None else f"{backend.name}+recipe{version}"


def teacher_key(train: DetectionDataset, backend, protocol: TrainProtocol, seed: int) -> str:
    """The cache key of ``backend``'s teacher on ``train``; its recipe version included (:func:`teacher_detector_id`)."""
    return teacher_key_for(train.fingerprint(), len(train), teacher_detector_id(backend), protocol, seed)


def teacher_key_for(fingerprint: str, n_train: int, detector_id: str, protocol: TrainProtocol, seed: int) -> str:
    """:func:`teacher_key` from a train set's fingerprint and size and the backend's :func:`teacher_detector_id`, for a
    caller that holds only those."""
    values = {k: v for k, v in asdict(protocol).items() if k not in NOT_TEACHER_FIELDS}
    values["full_set_epochs"] = protocol.epochs_for(n_train)
    return stable_hash({"data": fingerprint, "detector": detector_id, "protocol": values, "seed": seed}, 16)


def teacher_in_cache(key: str) -> bool:
    """Whether this machine's cache holds teacher ``key`` complete (its record written last); not verified."""
    return (cache_dir("teachers") / key / "teacher.json").is_file()


def fetch_teacher(
    train: DetectionDataset,
    backend,
    *,
    protocol: TrainProtocol,
    seed: int,
    device: str,
    reporter: Reporter | None = None,
    checkpoint_path: Path | None = None,
) -> tuple[Teacher, dict]:
    """The teacher and a record of where it came from (``cached``, ``trained`` or ``given``)."""
    if checkpoint_path is not None:
        path = Path(checkpoint_path)
        if not path.is_file():
            raise ConfigError(f"{path}: teacher checkpoint not found")
        ckpt = Checkpoint(backend.name, path, {"given": True})
        return Teacher(backend, ckpt, protocol, device), {"source": "given", "path": str(path)}
    key = teacher_key(train, backend, protocol, seed)
    root = cache_dir("teachers") / key
    with exclusive(
        cache_dir("locks") / f"teacher-{key}.lock",
        waiting=f"another process is training teacher {key}: waiting",
        note=reporter.note if reporter is not None else None,
    ):
        return _fetch_or_train(
            train, backend, root, key, protocol=protocol, seed=seed, device=device, reporter=reporter
        )


def _fetch_or_train(
    train: DetectionDataset, backend, root: Path, key: str, *, protocol: TrainProtocol, seed: int, device: str, reporter
) -> tuple[Teacher, dict]:
    for leftover in remove_dead_partials(root.parent, key):
        _note(reporter, f"removed {leftover}, a teacher whose training was killed")
    meta = _cached_meta(root, reporter)
    if meta is not None:
        log.info("teacher %s: cached (%s, seed %s)", key, backend.name, seed)
        ckpt = Checkpoint(backend.name, root / meta["weights"], meta.get("checkpoint_meta", {}))
        return Teacher(backend, ckpt, protocol, device), {"source": "cached", "key": key, **meta}
    work = root.with_name(f"{key}.partial{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:  # whatever ends it (Ctrl-C and a full disk included), no half-trained teacher is left behind
        _train_into(work, train, backend, protocol=protocol, seed=seed, device=device, reporter=reporter)
        try:
            os.replace(work, root)
        except OSError as exc:  # another process cached the same teacher meanwhile (theirs is equivalent), or not
            if not (root / "teacher.json").is_file():
                raise os_error_at(root, exc) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = json.loads((root / "teacher.json").read_text())
    log.info("teacher %s: trained in %.0f s and cached in %s", key, meta.get("train_s", 0.0), root)
    ckpt = Checkpoint(backend.name, root / meta["weights"], meta.get("checkpoint_meta", {}))
    return Teacher(backend, ckpt, protocol, device), {"source": "trained", "key": key, **meta}


def _train_into(work: Path, train: DetectionDataset, backend, *, protocol, seed: int, device: str, reporter) -> None:
    """Train the teacher in ``work`` and write its record there, last."""
    work.mkdir(parents=True)
    started = time.perf_counter()
    ckpt = backend.train(train, protocol=protocol, seed=seed, workdir=work, device=device, reporter=reporter)
    weights = Path(ckpt.path).name
    if Path(ckpt.path).parent != work:
        shutil.copyfile(ckpt.path, work / weights)
    meta = {
        "weights": weights,
        "weights_sha256": sha256_file(work / weights),
        "detector": backend.name,
        "recipe_version": getattr(backend, "recipe_version", None),
        "train_images": len(train),
        "seed": seed,
        "protocol": protocol.as_dict(),
        "train_s": round(time.perf_counter() - started, 2),
        "checkpoint_meta": ckpt.meta,
    }
    (work / "teacher.json").write_text(json.dumps(meta, indent=2))
    for folder in ("ultralytics", "yolo-data"):
        shutil.rmtree(work / folder, ignore_errors=True)


def _note(reporter, message: str) -> None:
    (reporter.note if reporter is not None else log.warning)(message)


def _cached_meta(root: Path, reporter) -> dict | None:
    """The cached teacher's record, or None when there is none or it is damaged (then it is removed, said in one
    line, and trained again): an unreadable teacher.json, or weights whose checksum differs from the one recorded
    when they were written (a truncated copy, a disk error)."""
    meta_file = root / "teacher.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        weights = root / meta["weights"]
        problem = None if weights.is_file() else f"{weights.name} is missing"
        if problem is None and meta.get("weights_sha256") and sha256_file(weights) != meta["weights_sha256"]:
            problem = f"{weights.name} does not match its recorded checksum"
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        problem = f"teacher.json is unreadable ({type(exc).__name__})"
    if problem is None:
        return meta
    _note(reporter, f"{root}: cached teacher damaged ({problem}); training it again")
    shutil.rmtree(root, ignore_errors=True)
    return None
