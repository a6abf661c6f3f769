"""A condensed set as one file: ``dcbench export`` writes a ``.tar.gz`` with the set, a ``SHA256SUMS`` list and a
dataset card; ``dcbench import`` checks every entry and every checksum before the set appears at its destination.

Layout: one top-level folder named after the set, holding ``SHA256SUMS`` (``sha256sum`` format, every other file)
first, then ``README.md`` (the card) and ``manifest.json``, then the set's other files as a cell wrote them
(``images/``, ``labels/``, ``annotations.json``, ``classes.txt``, ``data.yaml``). Entries carry no time, owner or
mode of the exporting machine, so the same set always exports to the same bytes.

Import trusts nothing in the archive and reads it as a stream, once: each entry's name and type are checked by hand
(a relative path inside the top folder, a plain file or folder: no absolute path, no ``..``, no link, no device)
and by tarfile's ``data`` filter; a file not in the checksum list is refused before a byte of it is written, and a
file is hashed as it is written, so the first mismatch stops the import. What the archive expands to is counted as
it is read, against a cap (by default 20x the archive's own size, at least 64 MiB; ``--max-size`` or
``DCBENCH_IMPORT_MAX_SIZE``), so a small archive cannot fill the disk. An archive packed by another tool with its
checksum list elsewhere is read twice: first for the list, writing nothing. Everything goes to a temporary folder
beside DEST, renamed into place only when every file matched, none is missing, and the set loads and its manifest
and card tell the truth about it (:mod:`dcbench.artifacts.claims`). Any fault is one line naming the archive and
the entry, and DEST is as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, cast

from dcbench.artifacts.card import CARD, dataset_card
from dcbench.artifacts.claims import check_fingerprint
from dcbench.artifacts.content import content_fingerprint
from dcbench.artifacts.locate import condense_record, require_condensed_dir, set_name
from dcbench.condensed import MANIFEST, load_condensed
from dcbench.errors import ConfigError, DatasetError, DcbenchError
from dcbench.io import atomic_write, partial_name, remove_dead_partials, sha256_file

log = logging.getLogger(__name__)

SUMS = "SHA256SUMS"
GENERATED = (SUMS, CARD)  # written by the export itself: an imported set's copies are made anew
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")  # sha256sum's text (two spaces) and binary (" *") forms
_CHUNK = 1 << 20

EXPANSION = 20  # the default cap on what an archive expands to: this many times its own size, ...
MIN_CAP = 64 << 20  # ... and at least this much, so a small set of incompressible images always fits
MAX_SIZE_ENV = "DCBENCH_IMPORT_MAX_SIZE"
MAX_SUMS_BYTES = 256 << 20  # read into memory: COCO's 118k images and their labels list in some 30 MB
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 10**3, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6, "mib": 1 << 20}
_UNITS |= {"g": 1 << 30, "gb": 10**9, "gib": 1 << 30, "t": 1 << 40, "tb": 10**12, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*(\d{1,15}(?:\.\d{1,9})?)\s*([A-Za-z]{0,3})\s*$")


# -- sizes ---------------------------------------------------------------------------------------------------------
def parse_size(text: str | int, *, what: str = "--max-size") -> int:
    """Bytes, from a count of bytes or a number with a unit: ``500MB`` (decimal), ``2GiB`` (binary; ``K``, ``M``,
    ``G``, ``T`` alone are binary too)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ConfigError(f"{what}: {text!r} is not a size (bytes, or a number with a unit: 500MB, 2GiB)")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value < 1:
        raise ConfigError(f"{what}: {text!r} is not a size of at least one byte")
    return value


def format_size(n: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.4g} {unit}"
    return f"{n} bytes"


def import_cap(archive: Path, max_size: str | int | None = None) -> tuple[int, str]:
    """The most bytes ``archive`` may expand to, and where that number comes from (for the message)."""
    if max_size is not None:
        return parse_size(max_size), "--max-size"
    env = os.environ.get(MAX_SIZE_ENV, "").strip()
    if env:
        return parse_size(env, what=MAX_SIZE_ENV), MAX_SIZE_ENV
    default = max(MIN_CAP, EXPANSION * archive.stat().st_size)
    return default, f"by default {EXPANSION}x the archive's size, at least {format_size(MIN_CAP)}"


# -- export --------------------------------------------------------------------------------------------------------
def set_files(set_dir: Path) -> list[str]:
    """The set's files as sorted relative POSIX paths. A link is an error (an archive of plain files cannot carry
    it, and following it could pack a file from anywhere); hidden leftovers of killed writers are skipped."""
    files = []
    for path in sorted(set_dir.rglob("*")):
        rel = path.relative_to(set_dir)
        if path.is_symlink():
            raise DatasetError(path, "a link: a condensed set to export holds plain files only")
        if any(part.startswith(".") for part in rel.parts):
            log.info("%s: hidden, not exported", path)
            continue
        if path.is_dir() or rel.as_posix() in GENERATED:
            continue
        if not path.is_file():
            raise DatasetError(path, "not a plain file: a condensed set to export holds plain files only")
        if any(c in rel.as_posix() for c in "\n\r\\"):  # SHA256SUMS has one path per line, tar uses /
            raise DatasetError(path, "a file name with a line break or backslash cannot be listed in SHA256SUMS")
        files.append(rel.as_posix())
    return files


def _tar_info(name: str, size: int = 0, *, folder: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if folder else tarfile.REGTYPE
    info.mode = 0o755 if folder else 0o644
    info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = size, 0, 0, 0, "", ""
    return info


def _write_tar(target: Path, root: str, set_dir: Path, files: list[str], generated: dict[str, bytes]) -> None:
    folders = sorted({p.as_posix() for f in files for p in PurePosixPath(f).parents if p.as_posix() != "."})
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.addfile(_tar_info(root, folder=True))
        # the checksum list first: import checks each later file against it as it writes it, in one pass; then
        # the card and manifest, so a set that claims what it is not is refused before its images are unpacked
        for rel in (SUMS, CARD):
            tar.addfile(_tar_info(f"{root}/{rel}", len(generated[rel])), io.BytesIO(generated[rel]))
        for folder in folders:
            tar.addfile(_tar_info(f"{root}/{folder}", folder=True))
        for rel in sorted(files, key=lambda rel: (rel != MANIFEST, rel)):
            with open(set_dir / rel, "rb") as f:
                tar.addfile(_tar_info(f"{root}/{rel}", os.fstat(f.fileno()).st_size), f)


def export_condensed(path: str | Path, archive: str | Path) -> Path:
    """Write the condensed set at ``path`` (the set or a cell's ``OUT/condensed/<name>/``) to ``archive``, under a
    temporary name renamed when complete. Returns the archive's path."""
    import dcbench

    set_dir = require_condensed_dir(path).resolve()
    archive = Path(archive).expanduser().resolve()
    if archive.is_relative_to(set_dir):
        raise ConfigError(f"{archive}: the archive would lie inside the set it holds; write it elsewhere")
    files = set_files(set_dir)  # before loading: a link is refused as such, not counted as a stray image
    condensed = load_condensed(set_dir)  # a set that does not load, or says what it is not, is not exported
    name = set_name(set_dir)
    sums = {rel: sha256_file(set_dir / rel) for rel in files}
    by_file = {set_dir / rel: digest for rel, digest in sums.items()}  # the images' digests, hashed once
    digests = [by_file.get(im.file.resolve()) or sha256_file(im.file) for im in condensed.dataset.images]
    card = dataset_card(
        name,
        condensed.manifest,
        condensed.dataset,
        fingerprint=content_fingerprint(condensed.dataset, digests),
        record=condense_record(set_dir),
        version=dcbench.__version__,
    ).encode()
    sums[CARD] = hashlib.sha256(card).hexdigest()
    listing = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(sums.items())).encode()
    atomic_write(archive, lambda tmp: _write_tar(tmp, name, set_dir, files, {CARD: card, SUMS: listing}))
    log.info("exported %s: %d files, %d images", name, len(files) + 2, len(condensed.dataset))
    return archive


# -- import --------------------------------------------------------------------------------------------------------
class _Refused(Exception):
    """An entry the import refuses: its name and why (turned into the one-line error by :func:`import_archive`)."""

    def __init__(self, entry: str, problem: str):
        super().__init__(entry, problem)
        self.entry, self.problem = entry, problem

    def message(self) -> str:
        return (f"entry {self.entry!r}: " if self.entry else "") + f"{self.problem}; nothing imported"


class _SumsNotFirst(Exception):
    """A file came before the checksum list: the archive is read once more, for the list alone."""


@dataclass
class _Job:
    """One import: where it writes, its cap, and what it has learnt of the archive so far."""

    archive: Path
    tmp: Path
    cap: int
    cap_from: str
    listed: dict[str, str] | None = None  # SHA256SUMS as {path in the set: sha256}, once read
    sums_digest: str = ""
    root: str | None = None
    entry: str = ""  # the entry being read, for messages
    where: str = "before any entry could be read"  # how far the reading got, for a damaged archive's message
    read: int = 0  # decompressed bytes read in this pass
    written: int = 0
    digests: dict[str, str] = field(default_factory=dict)

    def past_cap(self) -> str:
        where = "" if self.entry else f" {self.where}"
        return (
            f"the archive expands past {format_size(self.cap)}, the import size cap ({self.cap_from}){where}; if "
            f"the set is really that large, give a larger --max-size (or {MAX_SIZE_ENV})"
        )


class _Capped:
    """The archive's decompressed bytes, counted as tarfile reads them. What is counted is what is read, not what
    tar headers say, so neither a lying header nor bytes between or after entries get past the cap."""

    def __init__(self, source: gzip.GzipFile, job: _Job):
        self.source, self.job = source, job

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        data = self.source.read(size)
        self.job.read += len(data)
        if self.job.read > self.job.cap:
            raise _Refused(self.job.entry, self.job.past_cap())
        return data


@contextmanager
def _opened(job: _Job) -> Iterator[tuple[tarfile.TarFile, _Capped]]:
    """The archive as a stream of entries (``r|``: no seeking back, each entry's data read at most once)."""
    job.read, job.written, job.entry, job.where = 0, 0, "", "before any entry could be read"
    with open(job.archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        capped = _Capped(gz, job)
        # stream mode reads only: the typing's file protocol also asks for write and seek, never called here
        with tarfile.open(fileobj=cast(IO[bytes], capped), mode="r|") as tar:
            yield tar, capped


def _relative_parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    """The entry's path as parts, checked by hand: relative, no ``..``, no backslash or NUL, no link or device."""
    name = member.name
    if not name or "\x00" in name or "\\" in name:
        raise _Refused(name, "a name with a NUL or backslash")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _Refused(name, "an absolute path")
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    if ".." in parts:
        raise _Refused(name, "a path that escapes the destination (..)")
    if member.issym() or member.islnk():
        kind = "a symbolic link" if member.issym() else "a hard link"
        raise _Refused(name, f"{kind} (to {member.linkname!r}); the archive may hold plain files only")
    if member.issparse():  # its holes expand to bytes the archive never holds
        raise _Refused(name, "a sparse file; the archive may hold plain files only")
    if not (member.isreg() or member.isdir()):
        raise _Refused(name, "a device, FIFO or other special file; the archive may hold plain files only")
    if not parts:
        raise _Refused(name, "an empty path")
    return parts


def _data_filter(member: tarfile.TarInfo, tmp: Path) -> None:
    """tarfile's own ``data`` filter (Python 3.11.4+, 3.10.12+), as a second opinion on the checks above."""
    check = getattr(tarfile, "data_filter", None)
    if check is None:
        return
    try:
        check(member, str(tmp))
    except tarfile.FilterError as exc:
        raise _Refused(member.name, f"refused by tarfile's data filter ({type(exc).__name__})") from None


def _expected(job: _Job, member: tarfile.TarInfo, rel: str) -> str | None:
    """The sha256 a file entry must have, known before a byte of it is written (None: the checksum list itself,
    read as the first file). Refuses a file not listed, or one whose header alone says it passes the cap."""
    if member.size > job.cap - job.read:
        raise _Refused(member.name, f"its header says {format_size(member.size)}: {job.past_cap()}")
    if job.listed is None:
        if rel != SUMS:
            raise _SumsNotFirst
        if member.size > MAX_SUMS_BYTES:
            raise _Refused(member.name, f"over {format_size(MAX_SUMS_BYTES)}: too large for a checksum list")
        return None
    if rel == SUMS:
        return job.sums_digest
    if rel not in job.listed:
        raise _Refused(member.name, f"in the archive but not listed in {SUMS}")
    return job.listed[rel]


def _write_member(job: _Job, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Copy a file entry to ``target`` (never over an existing file) in chunks, hashing them as they pass."""
    source = tar.extractfile(member)
    if source is None:
        raise _Refused(member.name, "no data")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source, open(target, "xb") as f:
        for block in iter(lambda: source.read(_CHUNK), b""):  # a damaged archive raises here, its caller says so
            job.written += len(block)
            if job.written > job.cap:
                raise _Refused(member.name, job.past_cap())
            digest.update(block)
            try:
                f.write(block)
            except OSError as exc:  # this disk's fault, not the archive's
                raise ConfigError(
                    f"{job.archive}: entry {member.name!r}: cannot be written beside {job.tmp.parent} "
                    f"({exc.strerror or type(exc).__name__}); nothing imported"
                ) from None
    return digest.hexdigest()


def _take(job: _Job, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    """Check one entry and write it into ``job.tmp`` (the top folder stripped): a folder is made; a file must be
    listed before it is written and match its checksum once written."""
    parts = _relative_parts(member)
    _data_filter(member, job.tmp)
    job.root = job.root or parts[0]
    if parts[0] != job.root:
        raise _Refused(member.name, f"outside the archive's one top-level folder {job.root!r}")
    rel = "/".join(parts[1:])
    if member.isreg() and not rel:
        raise _Refused(member.name, "a file at the top level; the archive holds one folder")
    if rel in job.digests:
        raise _Refused(member.name, "appears twice")
    target = job.tmp.joinpath(*parts[1:])
    try:
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            return
        expected = _expected(job, member, rel)
        job.digests[rel] = digest = _write_member(job, tar, member, target)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise _Refused(member.name, "clashes with another entry's path") from None
    if expected is None:
        job.listed, job.sums_digest = _listed(job.root, target.read_bytes()), digest
    elif digest != expected:
        raise _Refused(member.name, f"checksum mismatch ({SUMS}: {expected[:12]}..., file: {digest[:12]}...)")


def _extract(job: _Job) -> None:
    """One pass over the archive, each entry checked and written in turn."""
    with _opened(job) as (tar, capped):
        for member in tar:
            job.entry, job.where = member.name, f"at entry {member.name!r}"
            _take(job, tar, member)
            job.where = f"after entry {member.name!r}"
        if job.root is None:
            raise _Refused("", "the archive is empty")
        job.entry, job.where = "", "past the tar's last entry"
        while capped.read(_CHUNK):
            pass  # read the gzip stream to its end: a truncated or corrupt tail fails its CRC check here


def _find_sums(job: _Job) -> None:
    """Read the checksum list wherever the archive holds it, writing nothing: for an archive another tool packed
    (dcbench's own exports put it first, and are read once)."""
    root = None
    with _opened(job) as (tar, _):
        for member in tar:
            job.entry, job.where = member.name, f"at entry {member.name!r} (looking for {SUMS})"
            parts = tuple(p for p in PurePosixPath(member.name).parts if p != ".")
            root = root or (parts[0] if parts else None)
            if member.isreg() and len(parts) == 2 and parts[1] == SUMS:
                if member.size > MAX_SUMS_BYTES:
                    raise _Refused(member.name, f"over {format_size(MAX_SUMS_BYTES)}: too large for a checksum list")
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                job.listed, job.sums_digest = _listed(parts[0], data), hashlib.sha256(data).hexdigest()
                return
    raise _Refused(f"{root}/{SUMS}" if root else SUMS, "missing: the archive has no checksum list")


def _listed(root: str, text: bytes) -> dict[str, str]:
    """SHA256SUMS as {path: digest}, strictly: every line ``<64 hex>  <relative path>``."""
    entry = f"{root}/{SUMS}"
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise _Refused(entry, "not UTF-8 text") from None
    listed: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _SUM_LINE.match(line)
        if not match:
            raise _Refused(entry, f"line {n} is not '<sha256>  <path>'")
        path = PurePosixPath(match.group(2))
        if path.is_absolute() or ".." in path.parts or path.as_posix() in listed:
            raise _Refused(entry, f"line {n} names an absolute, escaping or repeated path")
        listed[path.as_posix()] = match.group(1)
    return listed


def _verify_complete(job: _Job) -> None:
    """Every listed file arrived, and a manifest among them: else the first fault, by path."""
    if job.listed is None:
        raise _Refused(f"{job.root}/{SUMS}", "missing: the archive has no checksum list")
    missing = sorted(set(job.listed) - set(job.digests))
    if missing:
        raise _Refused(f"{job.root}/{missing[0]}", f"listed in {SUMS} but not in the archive")
    if MANIFEST not in job.digests:
        raise _Refused(f"{job.root}/{MANIFEST}", "missing: not a dcbench condensed set")


def _check_set(job: _Job) -> None:
    """The unpacked set loads, and its manifest and card say what it is (the card's fingerprint too: the images'
    digests are known from unpacking them)."""
    try:
        condensed = load_condensed(job.tmp)
        if (condensed.card or {}).get("fingerprint"):
            by_path = {job.tmp.joinpath(*rel.split("/")): digest for rel, digest in job.digests.items()}
            digests = [by_path.get(im.file) or sha256_file(im.file) for im in condensed.dataset.images]
            check_fingerprint(job.tmp / CARD, condensed.card, content_fingerprint(condensed.dataset, digests))
    except DcbenchError as exc:
        raise _in_archive_terms(exc, job) from None


def _in_archive_terms(exc: DcbenchError, job: _Job) -> _Refused:
    """A fault found in the unpacked set, told by its entry: the temporary folder means nothing to the user."""
    tmp, root = str(job.tmp), job.root or ""
    path = exc.path if isinstance(exc, DatasetError) and exc.path else ""
    if isinstance(exc, DatasetError) and (path == tmp or path.startswith(tmp + os.sep)):
        entry, problem = f"{root}/{path[len(tmp) + 1 :]}", exc.problem
    else:
        entry, problem = f"{root}/", str(exc)
    return _Refused(entry, problem.replace(tmp, root))


def _unpack_verified(job: _Job) -> None:
    """Extract the archive into ``job.tmp`` and check it (entries, checksums, the set itself); raises
    :class:`_Refused` or a DatasetError naming the archive."""
    try:
        try:
            _extract(job)
        except _SumsNotFirst:
            shutil.rmtree(job.tmp)  # folders only: no file is written before the list is known
            job.tmp.mkdir()
            job.root, job.digests = None, {}
            _find_sums(job)
            _extract(job)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        problem = f"a corrupt or truncated gzip/tar archive ({type(exc).__name__}: {exc}), {job.where}"
        raise DatasetError(job.archive, " ".join(problem.split()) + "; nothing imported") from None
    _verify_complete(job)
    _check_set(job)


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest}: exists and is not a folder; import into a new or empty folder")
    if dest.is_dir() and any(dest.iterdir()):
        raise ConfigError(f"{dest}: the folder exists and is not empty; import into a new or empty folder")


def _missing_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def import_archive(archive: str | Path, dest: str | Path, *, max_size: str | int | None = None) -> Path:
    """Import an exported set into ``dest`` (new, or an empty folder): verified completely in a temporary folder
    beside it, then renamed into place. On any fault ``dest`` is left as it was (not created, or still empty).
    ``max_size`` caps what the archive may expand to (:func:`import_cap`)."""
    archive, dest = Path(archive).expanduser(), Path(dest).expanduser().absolute()
    _check_destination(dest)
    if not archive.is_file():
        raise DatasetError(archive, "archive not found")
    cap, cap_from = import_cap(archive, max_size)
    created = _missing_parents(dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(dest.parent, f".{dest.name}")
    tmp = partial_name(dest)
    try:
        tmp.mkdir()
        try:
            _unpack_verified(_Job(archive, tmp, cap, cap_from))
        except _Refused as refused:
            raise DatasetError(archive, refused.message()) from None
        _check_destination(dest)  # another process may have filled it meanwhile
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # innermost first: only the folders this call made, and only while empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    log.info("imported %s into %s", archive, dest)
    return dest
