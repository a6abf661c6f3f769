"""Results and caches in object storage: ``--out s3://bucket/prefix`` (any fsspec URL), for a cluster whose nodes
share no POSIX disk.

Everything else in dcbench keeps working on node-local POSIX paths (atomic renames, file locks); this module only
moves finished artifacts between those paths and the store. A task gets a node-local working folder and cache
(:func:`node_workspace`), *pulls* what it needs before it runs (a teacher by its cache key, a condensed set by its
name, the features cached so far) and *pushes* what it produced after it ran.

Object stores have no atomic rename of a folder, so completeness is said by a **marker written last**, the very
file whose presence already means "complete" on a local disk: ``teacher.json`` for a teacher, ``<key>.sha256`` for
features, ``condense.json`` for a condensed set, ``result.json`` for a cell. A push deletes the old marker first,
uploads the files, then the marker; a pull reads the marker first, downloads the files into a partial folder, checks
the marker did not change meanwhile and renames the folder into place. One object is written atomically: a PUT to an
object store is all-or-nothing; on any other filesystem (``file://``, sftp, ...) it is uploaded under a temporary
name and moved.

Store layout (the local results folder's, plus the cache)::

    URL/<cell>/result.json ...           URL/condensed/<name>/condense.json ...
    CACHE/teachers/<key>/teacher.json    CACHE/features/<key>.npy, <key>.sha256

``CACHE`` is ``URL/cache`` unless ``DCBENCH_CACHE_URL`` names another store (teachers and features are keyed by
content, so several matrices may share one). Locks do not span nodes: the Ray executor makes each teacher and each
condensed set in one task, and one matrix run at a time should write into a store.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dcbench.cache import CACHE_ENV
from dcbench.errors import ConfigError
from dcbench.io import atomic_write_bytes, exclusive, partial_name, stable_hash

log = logging.getLogger(__name__)

CACHE_URL_ENV = "DCBENCH_CACHE_URL"  # where teachers and features live in the store (default: OUT/cache)
NODE_DIR_ENV = "DCBENCH_NODE_DIR"  # a node's local scratch disk (default: the system's temporary folder)
CELL_MARKER, FAILED, CONDENSED_MARKER, TEACHER_MARKER = "result.json", "failed.json", "condense.json", "teacher.json"
# filesystems whose PUT is all-or-nothing: a file appears whole or not at all, so no temporary name is needed
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}


def is_url(out: object) -> bool:
    """Whether ``out`` names a store (``scheme://...``) rather than a local folder."""
    return isinstance(out, str) and "://" in out


class Store:
    """A results store (``url``) and its cache store, through fsspec; created anew in every task (cheap)."""

    def __init__(self, url: str, cache_url: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = _open(self.url)
        if "file" in _protocols(self.fs):  # a relative file:// path, made absolute here: workers start elsewhere
            self.url = self.fs.unstrip_protocol(self.root)
        self.cache_url = (cache_url or os.environ.get(CACHE_URL_ENV) or f"{self.url}/cache").rstrip("/")
        self.cache_fs, self.cache_root = _open(self.cache_url)

    def __repr__(self) -> str:
        return f"Store({self.url!r}, cache={self.cache_url!r})"

    def check_writable(self) -> None:
        """A probe object written and removed, before a run spends an hour on a teacher it could not store."""
        for fs, root, url in ((self.fs, self.root, self.url), (self.cache_fs, self.cache_root, self.cache_url)):
            probe = f"{root}/.dcbench-write-probe-{uuid.uuid4().hex}"
            try:
                fs.makedirs(root, exist_ok=True)
                fs.pipe_file(probe, b"")
                fs.rm_file(probe)
            except Exception as exc:  # noqa: BLE001 - any backend's error is the same one line for the user
                raise ConfigError(f"{url}: the store is not writable ({type(exc).__name__}: {exc})") from None

    # -- single objects ----------------------------------------------------------------------------------------
    @staticmethod
    def read(fs, key: str) -> bytes | None:
        try:
            return fs.cat_file(key)
        except (FileNotFoundError, IsADirectoryError):
            return None

    @staticmethod
    def put(fs, local: Path, key: str) -> None:
        fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        if _ATOMIC_PUT & set(_protocols(fs)):
            fs.put_file(str(local), key)
            return
        tmp = f"{key}.partial-{uuid.uuid4().hex}"  # a reader never sees a half-written file under ``key``
        try:
            fs.put_file(str(local), tmp)
            fs.mv(tmp, key)
        finally:
            if fs.exists(tmp):
                fs.rm_file(tmp)

    # -- folders with a marker ---------------------------------------------------------------------------------
    def push_tree(self, fs, local_dir: Path, key: str, marker: str) -> None:
        """Upload ``local_dir`` to ``key``: old marker removed first, marker last, leftovers of an older version
        removed, so the marker's presence in the store means the folder there is this one, complete."""
        files = [p for p in sorted(local_dir.rglob("*")) if p.is_file() and not _in_flight(p, local_dir)]
        rel = {p.relative_to(local_dir).as_posix(): p for p in files}
        if marker not in rel or self.read(fs, f"{key}/{marker}") == rel[marker].read_bytes():
            return  # incomplete here, or the store holds this very version already
        if fs.exists(f"{key}/{marker}"):
            fs.rm_file(f"{key}/{marker}")
        for name, p in rel.items():
            if name != marker:
                self.put(fs, p, f"{key}/{name}")
        old = [f for f in (fs.find(key) if fs.exists(key) else []) if f[len(key) + 1 :] not in rel]
        for f in old:
            fs.rm_file(f)
        self.put(fs, rel[marker], f"{key}/{marker}")
        log.info("store: pushed %s (%d files)", key, len(rel))

    def pull_tree(self, fs, key: str, local_dir: Path, marker: str) -> bool:
        """Download ``key`` into ``local_dir`` when the store holds it complete (its marker) and the local copy is
        not that very version; renamed into place whole. True when the store holds it."""
        remote = self.read(fs, f"{key}/{marker}")
        if remote is None:
            return False
        local_marker = local_dir / marker
        if local_marker.is_file() and local_marker.read_bytes() == remote:
            return True
        work = partial_name(local_dir)
        shutil.rmtree(work, ignore_errors=True)
        try:
            for f in fs.find(key):
                name = f[len(key) + 1 :]
                if name != marker and not _in_flight(Path(name), Path()):
                    (work / name).parent.mkdir(parents=True, exist_ok=True)
                    fs.get_file(f, str(work / name))
            if self.read(fs, f"{key}/{marker}") != remote:  # replaced while it was read: a mix of two versions
                raise RuntimeError(f"{fs.unstrip_protocol(key)} changed while it was downloaded; run again")
            (work / marker).write_bytes(remote)
            shutil.rmtree(local_dir, ignore_errors=True)
            local_dir.parent.mkdir(parents=True, exist_ok=True)
            os.replace(work, local_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("store: pulled %s", key)
        return True

    # -- results for the driver --------------------------------------------------------------------------------
    def sync_results(self, mirror: Path) -> Path:
        """Mirror every cell's ``result.json`` and ``failed.json`` into ``mirror`` (and drop what the store no
        longer has), so states, estimates and leaderboards read a local folder exactly as they read any other."""
        keys = [k for name in (CELL_MARKER, FAILED) for k in self.fs.glob(f"{self.root}/*/{name}")]
        contents = self.fs.cat(keys) if keys else {}
        wanted = set()
        for key, data in contents.items():
            rel = key[len(self.root) + 1 :] if key.startswith(self.root) else "/".join(key.split("/")[-2:])
            path = mirror / rel
            wanted.add(path)
            if not (path.is_file() and path.read_bytes() == data):
                atomic_write_bytes(path, data)
        for name in (CELL_MARKER, FAILED):
            for path in mirror.glob(f"*/{name}"):
                if path not in wanted:
                    path.unlink()
        return mirror


def _open(url: str):
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as exc:  # s3:// without s3fs, gs:// without gcsfs: fsspec names the package
        raise ConfigError(f"{url}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{url}: not a store dcbench can open ({exc})") from None
    return fs, root.rstrip("/")


def _protocols(fs) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def _in_flight(path: Path, root: Path) -> bool:
    """Work of a process still writing (``.<name>.partial<pid>``, a teacher's ``<key>.partialPID``) or a lock."""
    parts = path.relative_to(root).parts if root != Path() else path.parts
    return any(".partial" in p or p == ".locks" or p.endswith(".lock") for p in parts)


def mirror_dir(url: str) -> Path:
    """Where the driver mirrors a store's result files (in its own cache; rebuilt from the store at every run)."""
    from dcbench.cache import cache_dir

    return cache_dir("store-results", stable_hash(url.rstrip("/"), 12))


# -- a task's node-local workspace -------------------------------------------------------------------------------
def node_root(node_id: str) -> Path:
    """This node's local folder: ``$DCBENCH_NODE_DIR`` (else the temporary folder) / the node's id, so two nodes
    never share one even when they share a machine (and the base path, forwarded from the driver)."""
    base = os.environ.get(NODE_DIR_ENV) or os.path.join(tempfile.gettempdir(), "dcbench-nodes")
    return Path(base).expanduser().resolve() / "".join(c for c in node_id if c.isalnum() or c in "-_")[:16]


@contextmanager
def node_workspace(store: Store, node_id: str) -> Iterator[Path]:
    """The node-local results folder of ``store``, with ``DCBENCH_CACHE`` pointing at the node-local cache while
    the task runs (tasks of one worker run one after another, so the process environment is the task's)."""
    root = node_root(node_id)
    out = root / "out" / stable_hash(store.url, 12)
    out.mkdir(parents=True, exist_ok=True)
    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(root / "cache")
    try:
        yield out
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before


def cache_lock(what: str) -> Path:
    from dcbench.cache import cache_dir

    return cache_dir("locks") / f"{what}.lock"


def local_exclusive(lock: Path):
    return exclusive(lock, waiting=f"another task on this node is pulling ({lock.name}): waiting")
