"""A condensed set as one file: ``dcbench export`` writes a ``.tar.gz`` with the set, a ``SHA256SUMS`` list and a
dataset card; ``dcbench import`` checks every entry and every checksum before the set appears at its destination.

Layout: one top-level folder named after the set, holding the set's files as a cell wrote them (``images/``,
``labels/``, ``annotations.json``, ``classes.txt``, ``data.yaml``, ``manifest.json``), ``README.md`` (the card) and
``SHA256SUMS`` (``sha256sum`` format, every other file). Entries are sorted and carry no time, owner or mode of the
exporting machine, so the same set always exports to the same bytes.

Import trusts nothing in the archive: each entry's name and type are checked by hand (a relative path inside the
top folder, a plain file or folder: no absolute path, no ``..``, no link, no device) before a byte is written, and
tarfile's ``data`` filter checks it again; files are written by this module, never by ``extractall``. Everything
goes to a temporary folder beside DEST, which is renamed into place only when every file matches its checksum, no
file is missing or unlisted, and the set loads. Any fault is one line naming the archive and the entry, and DEST
is as it was.
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
from pathlib import Path, PurePosixPath

from dcbench.artifacts.card import dataset_card
from dcbench.artifacts.content import content_fingerprint
from dcbench.artifacts.locate import condense_record, require_condensed_dir, set_name
from dcbench.errors import ConfigError, DatasetError, DcbenchError
from dcbench.io import atomic_write, partial_name, remove_dead_partials, sha256_file

log = logging.getLogger(__name__)

SUMS = "SHA256SUMS"
CARD = "README.md"
GENERATED = (SUMS, CARD)  # written by the export itself: an imported set's copies are made anew
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")  # sha256sum's text (two spaces) and binary (" *") forms
_CHUNK = 1 << 20


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
        for folder in folders:
            tar.addfile(_tar_info(f"{root}/{folder}", folder=True))
        for rel in files:
            with open(set_dir / rel, "rb") as f:
                tar.addfile(_tar_info(f"{root}/{rel}", os.fstat(f.fileno()).st_size), f)
        for rel, data in sorted(generated.items()):
            tar.addfile(_tar_info(f"{root}/{rel}", len(data)), io.BytesIO(data))


def export_condensed(path: str | Path, archive: str | Path) -> Path:
    """Write the condensed set at ``path`` (the set or a cell's ``OUT/condensed/<name>/``) to ``archive``, under a
    temporary name renamed when complete. Returns the archive's path."""
    import dcbench
    from dcbench.methods.condensed import load_condensed

    set_dir = require_condensed_dir(path).resolve()
    archive = Path(archive).expanduser().resolve()
    if archive.is_relative_to(set_dir):
        raise ConfigError(f"{archive}: the archive would lie inside the set it holds; write it elsewhere")
    condensed = load_condensed(set_dir)  # a set that does not load is not exported
    name = set_name(set_dir)
    files = set_files(set_dir)
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


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    """Write a plain-file entry to ``target`` (never over an existing file) and return its sha256."""
    source = tar.extractfile(member)
    if source is None:
        raise _Refused(member.name, "no data")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source, open(target, "xb") as f:
        for block in iter(lambda: source.read(_CHUNK), b""):  # a damaged archive raises here, its caller says so
            digest.update(block)
            try:
                f.write(block)
            except OSError as exc:  # this disk's fault, not the archive's
                raise ConfigError(f"{target}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    return digest.hexdigest()


def _extract(tar: tarfile.TarFile, tmp: Path, where: list[str]) -> tuple[str, dict[str, str]]:
    """Every entry into ``tmp`` (the top folder stripped), checked before it is written. Returns the top folder's
    name and the sha256 of each file by its path in the set; ``where[0]`` says how far it got (for a damaged
    archive's message)."""
    root: str | None = None
    digests: dict[str, str] = {}
    for member in tar:
        where[0] = f"at entry {member.name!r}"
        parts = _relative_parts(member)
        _data_filter(member, tmp)
        root = root or parts[0]
        if parts[0] != root:
            raise _Refused(member.name, f"outside the archive's one top-level folder {root!r}")
        rel = "/".join(parts[1:])
        if member.isreg() and not rel:
            raise _Refused(member.name, "a file at the top level; the archive holds one folder")
        if rel in digests:
            raise _Refused(member.name, "appears twice")
        try:
            if member.isdir():
                tmp.joinpath(*parts[1:]).mkdir(parents=True, exist_ok=True)
            else:
                digests[rel] = _write_member(tar, member, tmp.joinpath(*parts[1:]))
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise _Refused(member.name, "clashes with another entry's path") from None
        where[0] = f"after entry {member.name!r}"
    if root is None:
        raise _Refused("", "the archive is empty")
    return root, digests


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


def _verify(root: str, digests: dict[str, str], tmp: Path) -> None:
    """Every file listed and matching, nothing listed missing, and a manifest: else the first fault, by path."""
    if SUMS not in digests:
        raise _Refused(f"{root}/{SUMS}", "missing: the archive has no checksum list")
    listed = _listed(root, (tmp / SUMS).read_bytes())
    for rel in sorted(set(listed) | set(digests) - {SUMS}):
        if rel not in digests:
            raise _Refused(f"{root}/{rel}", f"listed in {SUMS} but not in the archive")
        if rel not in listed:
            raise _Refused(f"{root}/{rel}", f"in the archive but not listed in {SUMS}")
        if listed[rel] != digests[rel]:
            raise _Refused(
                f"{root}/{rel}", f"checksum mismatch ({SUMS}: {listed[rel][:12]}..., file: {digests[rel][:12]}...)"
            )
    if "manifest.json" not in digests:
        raise _Refused(f"{root}/manifest.json", "missing: not a dcbench condensed set")


def _unpack_verified(archive: Path, tmp: Path) -> None:
    """Extract ``archive`` into ``tmp`` and check it (entries, checksums, the set itself); raises :class:`_Refused`
    or a DatasetError naming the archive."""
    from dcbench.methods.condensed import load_condensed

    where = ["before any entry could be read"]
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            root, digests = _extract(tar, tmp, where)
            where[0] = "found where the gzip stream ends (its CRC or length)"
            while tar.fileobj is not None and tar.fileobj.read(_CHUNK):
                pass  # read the gzip stream to its end: a truncated or corrupt tail fails its CRC check here
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        problem = f"a corrupt or truncated gzip/tar archive ({type(exc).__name__}: {exc}), {where[0]}"
        raise DatasetError(archive, " ".join(problem.split()) + "; nothing imported") from None
    _verify(root, digests, tmp)
    try:
        load_condensed(tmp)
    except DcbenchError as exc:
        raise _Refused(f"{root}/", f"not a loadable condensed set ({exc})") from None


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


def import_archive(archive: str | Path, dest: str | Path) -> Path:
    """Import an exported set into ``dest`` (new, or an empty folder): verified completely in a temporary folder
    beside it, then renamed into place. On any fault ``dest`` is left as it was (not created, or still empty)."""
    archive, dest = Path(archive).expanduser(), Path(dest).expanduser().absolute()
    _check_destination(dest)
    if not archive.is_file():
        raise DatasetError(archive, "archive not found")
    created = _missing_parents(dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(dest.parent, f".{dest.name}")
    tmp = partial_name(dest)
    try:
        tmp.mkdir()
        try:
            _unpack_verified(archive, tmp)
        except _Refused as refused:
            raise DatasetError(archive, f"entry {refused.entry!r}: {refused.problem}; nothing imported") from None
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
