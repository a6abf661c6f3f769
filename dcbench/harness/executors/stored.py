"""Tasks on a node without the results folder: a cell, or a Ray stage, run in a node-local workspace whose inputs
are pulled from a store (``dcbench.store``) before it runs and whose products are pushed after.

What a task pulls follows from the cell alone: the teacher it may train from (by its cache key), its condensed set
(by its name) and, when that set is still to make, the teacher and the cached features; a cell with teacher labels
its relabelled copy (else the teacher). What it pushes is exactly what changed in the workspace while it ran (a
teacher, features, a condensed set, the cell): teachers first and the cell last, so a ``result.json`` in the store
means the cell is finished and everything it used is there too. A copy pulled earlier is never pushed back, so a
node cannot overwrite a newer version in the store with an older one it holds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dcbench.harness.cell import CONDENSED_ROOT, results_lock
from dcbench.harness.executors.outcome import Outcome, execute_cell
from dcbench.harness.identity import CellConfig
from dcbench.io import atomic_write, atomic_write_bytes
from dcbench.store import (
    CELL_MARKER,
    CONDENSED_MARKER,
    FAILED,
    TEACHER_MARKER,
    Store,
    cache_lock,
    is_url,
    local_exclusive,
    node_workspace,
)

if TYPE_CHECKING:
    from dcbench.progress import Reporter

log = logging.getLogger(__name__)

TEACHER, CONDENSE, CELL = "teacher", "condense", "cell"  # the stages a task can be


def current_node() -> str:
    """The Ray node this task runs on, or ``local`` outside Ray (the local executor)."""
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    return "local"


@contextmanager
def workspace(out: str | Path, config: CellConfig, stage: str) -> Iterator[Path]:
    """The folder a stage works in: ``out`` itself when it is a local folder (nothing changes); for a store URL a
    node-local folder holding what the stage needs, whose new artifacts go to the store when the stage ends (also
    when it raised: a teacher trained before a failed condensation is kept)."""
    if not is_url(out):
        yield Path(out)
        return
    store = Store(str(out))
    with node_workspace(store, current_node()) as local:
        pull_for(stage, config, store, local)
        before = markers(local)
        try:
            yield local
        finally:
            push_changed(store, local, before)


def execute_stored(
    config: CellConfig,
    out: str | Path,
    *,
    device: str,
    reporter: Reporter | None = None,
    upstream_errors: list[str] | None = None,
) -> Outcome:
    """:func:`execute_cell` in the workspace of ``out``. A store that cannot be read or written fails the cell
    (its record then cannot reach the store either: the error travels in the outcome), never the matrix."""
    if not is_url(out):
        return execute_cell(config, Path(out), device=device, reporter=reporter, upstream_errors=upstream_errors)
    started = time.perf_counter()
    try:
        with workspace(out, config, CELL) as local:
            return execute_cell(config, local, device=device, reporter=reporter, upstream_errors=upstream_errors)
    except Exception as exc:  # noqa: BLE001 - one cell's store trouble must not stop the matrix
        message = f"store {out}: {type(exc).__name__}: {exc}".splitlines()[0]
        return Outcome(config.cell_name(), "failed", round(time.perf_counter() - started, 3), message)


# -- pulling ----------------------------------------------------------------------------------------------------
def pull_for(stage: str, config: CellConfig, store: Store, out: Path) -> None:
    from dcbench.harness.cell import cell_teacher_id, prepare
    from dcbench.harness.labels import relabelled_name
    from dcbench.results import DISTILL
    from dcbench.results import TEACHER as TEACHER_LABELS

    inputs = prepare(config)  # loads the dataset: the teachers' keys hold its fingerprint
    condensing = None if config.teacher_checkpoint else _teacher_key(config, inputs, inputs.detector)
    if config.student_is_teacher():  # the full-data row: its student is the evaluation detector's teacher
        _pull_teacher(store, _teacher_key(config, inputs, inputs.evaluator))
        return
    if stage == TEACHER:
        _pull_teacher(store, condensing)
        return
    if not _pull_condensed(store, out, config.condense_name()):
        if config.method_uses_teacher():
            _pull_teacher(store, condensing)
        _pull_features(store)
    if stage == CELL and config.labels == TEACHER_LABELS:
        name = relabelled_name(config.condense_name(), config.label_score, cell_teacher_id(config, inputs))
        if not _pull_condensed(store, out, name):
            _pull_teacher(store, condensing)
    if stage == CELL and config.labels == DISTILL:  # every distilled student needs its teacher, copy or not
        _pull_teacher(store, condensing)


def _teacher_key(config: CellConfig, inputs, backend) -> str:
    from dcbench.harness.teacher import teacher_key

    return teacher_key(inputs.split.train, backend, config.protocol, config.seed)


def _pull_teacher(store: Store, key: str | None) -> None:
    from dcbench.cache import cache_dir

    if key is None:
        return
    with local_exclusive(cache_lock(f"teacher-{key}")):  # teacher.py's own lock: never beside a training of it
        store.pull_tree(
            store.cache_fs, f"{store.cache_root}/teachers/{key}", cache_dir("teachers") / key, TEACHER_MARKER
        )


def _pull_condensed(store: Store, out: Path, name: str) -> bool:
    with local_exclusive(results_lock(out, f"condensed-{name}")):  # the lock condense_cell takes for this set
        return store.pull_tree(
            store.fs, f"{store.root}/{CONDENSED_ROOT}/{name}", out / CONDENSED_ROOT / name, CONDENSED_MARKER
        )


def _pull_features(store: Store) -> None:
    """Every cached feature array the store has and this node lacks (each is written once, by content key)."""
    from dcbench.cache import cache_dir
    from dcbench.methods.features import COST_SUFFIX

    fs, folder = store.cache_fs, f"{store.cache_root}/features"
    local = cache_dir("features")
    for digest_key in fs.glob(f"{folder}/*.sha256"):
        digest = store.read(fs, digest_key)
        name = digest_key.rsplit("/", 1)[-1]
        if digest is None or ((local / name).is_file() and (local / name).read_bytes() == digest):
            continue
        stem, remote = name[: -len(".sha256")], digest_key[: -len(".sha256")]
        _download(fs, f"{remote}.npy", local / f"{stem}.npy")
        cost = store.read(fs, remote + COST_SUFFIX)  # absent for entries made before it
        if cost is not None:
            atomic_write_bytes(local / f"{stem}{COST_SUFFIX}", cost)
        atomic_write_bytes(local / name, digest)  # last: the array beside it is complete


def _download(fs, key: str, path: Path) -> None:
    def get(tmp: Path) -> None:
        fs.get_file(key, str(tmp))

    atomic_write(path, get)


# -- pushing ----------------------------------------------------------------------------------------------------
def markers(out: Path) -> dict[Path, bytes]:
    """Every complete artifact of the workspace by its marker's bytes: what a task changed is what differs."""
    from dcbench.cache import cache_dir

    cache = cache_dir()
    found = [
        *cache.glob(f"teachers/*/{TEACHER_MARKER}"),
        *cache.glob("features/*.sha256"),
        *out.glob(f"{CONDENSED_ROOT}/*/{CONDENSED_MARKER}"),
        *out.glob(f"*/{CELL_MARKER}"),
        *out.glob(f"*/{FAILED}"),
    ]
    # a folder still being written (``.name.partialPID``, ``key.partialPID``) is not complete, whatever it holds
    return {p: p.read_bytes() for p in found if ".partial" not in p.parent.name and p.is_file()}


def push_changed(store: Store, out: Path, before: dict[Path, bytes]) -> None:
    """What the task made or remade, in dependency order: teachers, features, condensed sets, then cells."""
    changed = {p for p, data in markers(out).items() if before.get(p) != data}
    for p in sorted(changed):
        if p.name == TEACHER_MARKER:
            store.push_tree(store.cache_fs, p.parent, f"{store.cache_root}/teachers/{p.parent.name}", TEACHER_MARKER)
        elif p.suffix == ".sha256":
            _push_features(store, p)
    for p in sorted(changed):
        if p.name == CONDENSED_MARKER:
            store.push_tree(store.fs, p.parent, f"{store.root}/{CONDENSED_ROOT}/{p.parent.name}", CONDENSED_MARKER)
    for p in sorted(changed):
        cell = f"{store.root}/{p.parent.name}"
        if p.name == CELL_MARKER:  # its failure record, gone locally, goes from the store too (push_tree)
            store.push_tree(store.fs, p.parent, cell, CELL_MARKER)
        elif p.name == FAILED and p.parent / CELL_MARKER not in changed:
            store.put(store.fs, p, f"{cell}/{FAILED}")


def _push_features(store: Store, digest: Path) -> None:
    from dcbench.methods.features import COST_SUFFIX

    fs, key = store.cache_fs, f"{store.cache_root}/features/{digest.stem}"
    if store.read(fs, f"{key}.sha256") == digest.read_bytes():
        return
    if fs.exists(f"{key}.sha256"):
        fs.rm_file(f"{key}.sha256")
    store.put(fs, digest.with_suffix(".npy"), f"{key}.npy")
    if digest.with_suffix(COST_SUFFIX).is_file():
        store.put(fs, digest.with_suffix(COST_SUFFIX), f"{key}{COST_SUFFIX}")
    store.put(fs, digest, f"{key}.sha256")  # last: an array without its digest is incomplete
