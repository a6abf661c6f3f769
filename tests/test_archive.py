"""``dcbench export`` / ``dcbench import``: a condensed set round-trips byte for byte with its checksums and card,
and every bad archive (tampered, incomplete, escaping, linking, damaged) is refused with one line naming the archive
and the entry, leaving the destination as it was. No detector is trained here."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from dcbench.cli.app import main
from tests.conftest import write_png

MANIFEST = {
    "method": "random",
    "kind": "selection",
    "budget": 2,
    "n_train": 20,
    "seed": 0,
    "options": {},
    "source": "shapes:?n_train=20",
    "source_fingerprint": "0123456789abcdef",
}


@pytest.fixture
def condensed(tmp_path: Path) -> Path:
    """A two-image condensed set written as a cell writes one, in a cell's ``OUT/condensed/<name>/condensed``."""
    from dcbench.condensed import write_condensed
    from dcbench.data.model import DetectionDataset, ImageRecord

    images = [
        ImageRecord(f"im{k}", write_png(tmp_path / "src" / f"im{k}.png", seed=k), 64, 48, [[4, 4, 30, 30]], [k], [0])
        for k in range(2)
    ]
    ds = DetectionDataset("tiny", ["cat", "dog"], images)
    outer = tmp_path / "runs" / "condensed" / "tiny__random__r0.1__s0"
    write_condensed(ds, outer / "condensed", MANIFEST)
    record = {"cell": outer.name, "teacher": None, "timings": {}, "settings": {}}
    (outer / "condense.json").write_text(json.dumps(record))
    return outer


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_round_trip_keeps_every_byte_and_writes_checksums_and_card(tmp_path, condensed, capsys):
    archive = tmp_path / "out" / "set.tar.gz"
    assert main(["export", str(condensed), str(archive)]) == 0
    dest = tmp_path / "sets" / "imported"
    assert main(["import", str(archive), str(dest)]) == 0
    original, imported = _files(condensed / "condensed"), _files(dest)
    assert {k: v for k, v in imported.items() if k not in ("README.md", "SHA256SUMS")} == original
    sums = imported["SHA256SUMS"].decode().splitlines()
    listed = {line[66:]: line[:64] for line in sums}
    assert all(line[64:66] == "  " for line in sums)  # sha256sum's text format
    assert set(listed) == set(imported) - {"SHA256SUMS"}
    assert all(hashlib.sha256(imported[p]).hexdigest() == d for p, d in listed.items())
    card = imported["README.md"].decode()
    for expected in ("`random`", "0.1 (2 of 20 train images)", "0123456789abcdef", "none (the method uses no teacher)"):
        assert expected in card
    assert "## Licence" in card and "dcbench 0.1" in card and condensed.name in card
    # the same set exports to the same bytes: a published checksum of the archive holds
    again = tmp_path / "again.tar.gz"
    assert main(["export", str(condensed / "condensed"), str(again)]) == 0
    assert again.read_bytes() == archive.read_bytes()
    # an imported set exports again (its card and sums are made anew, not packed twice)
    third = tmp_path / "third.tar.gz"
    assert main(["export", str(dest), str(third)]) == 0
    with tarfile.open(third) as tar:
        names = tar.getnames()
    assert names.count("imported/SHA256SUMS") == 1 and names.count("imported/README.md") == 1


def test_export_reads_each_file_once(tmp_path, condensed, monkeypatch):
    """The images' digests for the card's fingerprint are the SHA256SUMS ones, not a second pass over the images."""
    import dcbench.artifacts.archive as archive
    import dcbench.artifacts.content as content

    hashed: list[Path] = []
    real = archive.sha256_file

    def counting(path, *args, **kwargs):
        hashed.append(Path(path).resolve())
        return real(path, *args, **kwargs)

    monkeypatch.setattr(archive, "sha256_file", counting)
    monkeypatch.setattr(content, "sha256_file", counting)
    archive.export_condensed(condensed, tmp_path / "set.tar.gz")
    assert hashed and len(hashed) == len(set(hashed))
    assert sum(p.suffix == ".png" for p in hashed) == 2


def test_import_into_an_empty_folder_works_and_a_full_one_is_refused(tmp_path, condensed, capsys):
    archive = tmp_path / "set.tar.gz"
    assert main(["export", str(condensed), str(archive)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["import", str(archive), str(empty)]) == 0
    assert (empty / "manifest.json").is_file()
    capsys.readouterr()
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    assert main(["import", str(archive), str(full)]) == 2
    assert "not empty" in _one_error_line(capsys)
    assert _files(full) == {"mine.txt": b"keep"}


def test_export_refuses_what_is_not_a_plain_condensed_set(tmp_path, condensed, capsys):
    assert main(["export", str(tmp_path / "src"), str(tmp_path / "x.tar.gz")]) == 2
    assert "not a dcbench condensed set" in _one_error_line(capsys)
    (condensed / "condensed" / "images" / "link.png").symlink_to(tmp_path / "src" / "im0.png")
    assert main(["export", str(condensed), str(tmp_path / "x.tar.gz")]) == 2
    assert "a link" in _one_error_line(capsys)
    assert not (tmp_path / "x.tar.gz").exists() and not list(tmp_path.glob(".x.tar.gz.partial*"))


# -- a corpus of bad archives, each built from a good one ----------------------------------------------------------
def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _tampered(members, root):
    out = []
    for info, data in members:
        if info.name == f"{root}/images/000000_im0.png":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        out.append((info, data))
    return out, f"{root}/images/000000_im0.png", "checksum mismatch"


def _missing(members, root):
    gone = f"{root}/labels/000001_im1.txt"
    return [(i, d) for i, d in members if i.name != gone], gone, "listed in SHA256SUMS but not in the archive"


def _unlisted(members, root):
    extra = f"{root}/images/extra.png"
    return members + [_file(extra, b"not in the list")], extra, "not listed in SHA256SUMS"


def _dotdot(members, root):
    name = f"{root}/../escaped.txt"
    return members[:3] + [_file(name, b"out")] + members[3:], name, "escapes the destination"


def _absolute(members, root):
    name = "/tmp/dcbench-absolute-escape.txt"
    return [_file(name, b"out")] + members, name, "an absolute path"


def _symlink(members, root):
    name = f"{root}/images/passwd.png"
    return members + [_link(name, "/etc/passwd", tarfile.SYMTYPE)], name, "a symbolic link"


def _hardlink(members, root):
    name = f"{root}/images/hard.png"
    return members + [_link(name, "/etc/passwd", tarfile.LNKTYPE)], name, "a hard link"


def _no_sums(members, root):
    name = f"{root}/SHA256SUMS"
    return [(i, d) for i, d in members if i.name != name], name, "missing: the archive has no checksum list"


def _bad_sums_line(members, root):
    name = f"{root}/SHA256SUMS"
    out = [(i, d + b"this is not a checksum line\n" if i.name == name else d) for i, d in members]
    for info, data in out:
        if info.name == name:
            info.size = len(data)
    return out, name, "is not '<sha256>  <path>'"


def _second_top_folder(members, root):
    name = "other/evil.txt"
    return members + [_file(name, b"x")], name, "outside the archive's one top-level folder"


MEMBER_FAULTS = [
    _tampered,
    _missing,
    _unlisted,
    _dotdot,
    _absolute,
    _symlink,
    _hardlink,
    _no_sums,
    _bad_sums_line,
    _second_top_folder,
]


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _truncated_tail(good: bytes) -> bytes:
    return good[:-6]  # the gzip trailer (CRC, size) cut: every entry reads, the stream does not end


def _corrupt(good: bytes) -> bytes:
    mid = len(good) // 2
    return good[:mid] + bytes(b ^ 0x5A for b in good[mid : mid + 64]) + good[mid + 64 :]


def _not_gzip(good: bytes) -> bytes:
    return b"just some text, not an archive\n"


BYTE_FAULTS = [_truncated, _truncated_tail, _corrupt, _not_gzip]


@pytest.fixture
def good_archive(tmp_path, condensed) -> Path:
    archive = tmp_path / "good.tar.gz"
    assert main(["export", str(condensed), str(archive)]) == 0
    return archive


def _assert_refused(capsys, tmp_path: Path, archive: Path, dest: Path, *fragments: str) -> None:
    line = _one_error_line(capsys)
    assert str(archive) in line and "nothing imported" in line, line
    for fragment in fragments:
        assert fragment in line, line
    assert not list(dest.parent.glob(f".{dest.name}.partial*")), "a temporary folder was left behind"
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/dcbench-absolute-escape.txt").exists()


@pytest.mark.parametrize("fault", MEMBER_FAULTS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("dest_exists", [False, True], ids=["new-dest", "empty-dest"])
def test_bad_entries_are_refused_and_dest_is_unchanged(tmp_path, good_archive, capsys, fault, dest_exists):
    root = "tiny__random__r0.1__s0"
    members, entry, problem = fault(_members(good_archive), root)
    bad = _write(tmp_path / "bad.tar.gz", members)
    dest = tmp_path / "dest" / "set"
    if dest_exists:
        dest.mkdir(parents=True)
    capsys.readouterr()
    assert main(["import", str(bad), str(dest)]) == 2
    _assert_refused(capsys, tmp_path, bad, dest, repr(entry), problem)
    if dest_exists:
        assert dest.is_dir() and not any(dest.iterdir())
    else:
        assert not dest.exists() and not dest.parent.exists()  # not even the parent this call would have made


@pytest.mark.parametrize("fault", BYTE_FAULTS, ids=lambda f: f.__name__.strip("_"))
def test_damaged_gzip_is_refused_and_dest_is_not_created(tmp_path, good_archive, capsys, fault):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(fault(good_archive.read_bytes()))
    dest = tmp_path / "set"
    capsys.readouterr()
    assert main(["import", str(bad), str(dest)]) == 2
    line = _one_error_line(capsys)
    # bytes flipped inside an image's stored (incompressible) gzip block decompress: the image's checksum, checked
    # as it is written, finds them before the gzip CRC at the stream's end could
    expected = ("corrupt or truncated", "checksum mismatch") if fault is _corrupt else ("corrupt or truncated",)
    assert any(e in line for e in expected), line
    assert str(bad) in line and "nothing imported" in line, line
    assert not list(tmp_path.glob(".set.partial*")) and not dest.exists()


def test_a_good_archive_repacked_by_another_tool_imports(tmp_path, condensed, good_archive):
    """Entries in another order and with tar's own metadata are fine: only names, types and checksums count."""
    repacked = _write(tmp_path / "repacked.tar.gz", list(reversed(_members(good_archive))))
    assert main(["import", str(repacked), str(tmp_path / "set")]) == 0
    imported = _files(tmp_path / "set")
    assert {k: v for k, v in imported.items() if k not in ("README.md", "SHA256SUMS")} == _files(
        condensed / "condensed"
    )
