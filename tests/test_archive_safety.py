"""``dcbench import`` streams: each entry is checked against SHA256SUMS as it is written (nothing unlisted is
written, nothing after a bad entry), the archive may expand to a size cap only (a gzip bomb is refused early), and
the manifest and card that arrive with a set must be well-formed and tell the truth about it: the method, the image
count and the ratio. ``load_condensed`` (and so ``dcbench eval`` and ``dcbench export``) checks the same on disk.
No detector is trained here."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from dcbench.cli.app import main
from dcbench.errors import DatasetError
from tests.conftest import TINY_SHAPES, write_png
from tests.test_archive import MANIFEST as PLAIN_MANIFEST

MANIFEST = {**PLAIN_MANIFEST, "selected_ids": ["im0", "im1"]}
ROOT = "tiny"


# -- helpers (the fuzz tests use them too) -------------------------------------------------------------------------
def make_set(folder: Path, manifest: dict | None = None) -> Path:
    """A two-image condensed set at ``folder`` (its inner folder, as an import writes it)."""
    from dcbench.condensed import write_condensed
    from dcbench.data.model import DetectionDataset, ImageRecord

    src = folder.parent / f"{folder.name}-src"
    images = [
        ImageRecord(f"im{k}", write_png(src / f"im{k}.png", seed=k), 64, 48, [[4, 4, 30, 30]], [k], [0])
        for k in range(2)
    ]
    write_condensed(DetectionDataset("tiny", ["cat", "dog"], images), folder, manifest or MANIFEST)
    return folder


def export(set_dir: Path, archive: Path) -> Path:
    from dcbench.artifacts.archive import export_condensed

    return export_condensed(set_dir, archive)


def members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def entry(name: str, data: bytes | None) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    if data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    return info, data


def tar_bytes(items: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in items:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def write_archive(path: Path, items, *, tail: bytes = b"") -> Path:
    """``items`` as a .tar.gz (``tail``: bytes after the tar's end, inside the gzip stream)."""
    path.write_bytes(gzip.compress(tar_bytes(items) + tail, compresslevel=1, mtime=0))
    return path


def resign(items, root: str = ROOT):
    """``items`` with SHA256SUMS made anew for the files they now hold: the checksums tell the truth, so what is
    tested is whatever else the files claim."""
    files = [(i, d) for i, d in items if i.isreg() and i.name != f"{root}/SHA256SUMS"]
    listing = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {i.name.split('/', 1)[1]}\n"
        for i, d in sorted(files, key=lambda x: x[0].name)
    ).encode()
    sums = entry(f"{root}/SHA256SUMS", listing)
    rest = [(i, d) for i, d in items if i.name != f"{root}/SHA256SUMS"]
    return [rest[0], sums, *rest[1:]]


def replaced(items, changes: dict[str, bytes | None], root: str = ROOT):
    """``items`` with the files named in ``changes`` (paths in the set) given new bytes, or removed (None)."""
    out = []
    for info, data in items:
        rel = info.name.split("/", 1)[1] if "/" in info.name else ""
        if rel in changes:
            if changes[rel] is None:
                continue
            info, data = entry(info.name, changes[rel])
        out.append((info, data))
    return out


def sums_last(items, root: str = ROOT):
    """``items`` with SHA256SUMS moved to the end, as another tool may pack it."""
    sums = f"{root}/SHA256SUMS"
    return [(i, d) for i, d in items if i.name != sums] + [(i, d) for i, d in items if i.name == sums]


def run_import(archive: Path, dest: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["import", str(archive), str(dest), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 0 or len(err) == 1, err
    return rc, err[0] if err else ""


def assert_nothing_left(dest: Path) -> None:
    assert not dest.exists(), "the destination was created"
    assert not list(dest.parent.glob(f".{dest.name}.partial*")), "a temporary folder was left behind"


@pytest.fixture
def good(tmp_path) -> tuple[Path, list]:
    archive = export(make_set(tmp_path / "sets" / ROOT), tmp_path / "good.tar.gz")
    return archive, members(archive)


class ExtractSpy:
    """The entries whose data import_archive reads out of the archive, in order."""

    def __init__(self, monkeypatch):
        self.names: list[str] = []
        real = tarfile.TarFile.extractfile

        def spy(tar, member):
            self.names.append(member if isinstance(member, str) else member.name)
            return real(tar, member)

        monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)


# -- streaming: checked as written, capped -------------------------------------------------------------------------
def test_a_bad_checksum_stops_the_import_at_that_entry(tmp_path, good, capsys, monkeypatch):
    archive, items = good
    image = f"{ROOT}/images/000000_im0.png"
    tampered = [(i, (d[:-1] + bytes([d[-1] ^ 1])) if i.name == image else d) for i, d in items]
    bad = write_archive(tmp_path / "bad.tar.gz", tampered)
    spy = ExtractSpy(monkeypatch)
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and f"{bad}: entry {image!r}: checksum mismatch" in line, line
    assert spy.names[-1] == image, f"entries were written after the bad one: {spy.names}"
    assert_nothing_left(tmp_path / "dest")


def test_an_unlisted_entry_is_refused_before_it_is_written(tmp_path, good, capsys, monkeypatch):
    archive, items = good
    extra = f"{ROOT}/images/zz_extra.png"
    bad = write_archive(tmp_path / "bad.tar.gz", items + [entry(extra, b"not listed")])
    spy = ExtractSpy(monkeypatch)
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and f"entry {extra!r}: in the archive but not listed in SHA256SUMS" in line, line
    assert extra not in spy.names
    assert_nothing_left(tmp_path / "dest")


def test_an_archive_with_its_checksums_last_is_checked_before_anything_is_written(tmp_path, good, capsys):
    """Another tool may pack SHA256SUMS anywhere: the list is found first, then every entry is checked as it is
    written, the same as for dcbench's own archives (which put it first)."""
    archive, items = good
    assert items[1][0].name == f"{ROOT}/SHA256SUMS", "dcbench export writes the checksum list first"
    last = write_archive(tmp_path / "last.tar.gz", sums_last(items))
    rc, line = run_import(last, tmp_path / "ok", capsys)
    assert rc == 0, line
    image = f"{ROOT}/images/000001_im1.png"
    tampered = [(i, (d[:-1] + bytes([d[-1] ^ 1])) if i.name == image else d) for i, d in items]
    rc, line = run_import(write_archive(tmp_path / "bad.tar.gz", sums_last(tampered)), tmp_path / "bad", capsys)
    assert rc == 2 and f"entry {image!r}: checksum mismatch" in line, line
    assert_nothing_left(tmp_path / "bad")


def _zeros_entry(items, size: int, name: str = "blob.bin"):
    """``items`` plus a listed file of ``size`` zero bytes: its checksum is right, only its size is the fault."""
    zeros = bytes(size)
    return resign(items + [entry(f"{ROOT}/{name}", zeros)]), f"{ROOT}/{name}"


def test_a_gzip_bomb_is_refused_at_the_default_cap(tmp_path, good, capsys):
    """65 MiB of zeros packs into some 70 KB: past 20x the archive's size and past the 64 MiB floor."""
    items, bomb = _zeros_entry(good[1], 65 << 20)
    bad = write_archive(tmp_path / "bomb.tar.gz", items)
    assert bad.stat().st_size < 1 << 20
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and f"{bad}: entry {bomb!r}" in line and "size cap" in line and "--max-size" in line, line
    assert_nothing_left(tmp_path / "dest")


def test_bytes_past_the_tar_end_count_towards_the_cap(tmp_path, good, capsys):
    """What the size check counts is the bytes read, not what the tar headers say: 65 MiB of zeros after the
    tar's end marker are never an entry, and still refused."""
    bad = write_archive(tmp_path / "tail.tar.gz", good[1], tail=bytes(65 << 20))
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and "size cap" in line, line
    assert_nothing_left(tmp_path / "dest")


def test_a_header_that_claims_more_than_the_cap_is_refused_before_its_data_is_read(tmp_path, good, capsys):
    items, bomb = _zeros_entry(good[1], 3 << 20)
    bad = write_archive(tmp_path / "big.tar.gz", items)
    rc, line = run_import(bad, tmp_path / "dest", capsys, "--max-size", "1MiB")
    assert rc == 2 and f"entry {bomb!r}" in line and "1 MiB" in line and "size cap" in line, line
    assert_nothing_left(tmp_path / "dest")


@pytest.mark.parametrize("how", ["option", "env"])
def test_the_cap_is_configurable(tmp_path, good, capsys, monkeypatch, how):
    items, bomb = _zeros_entry(good[1], 3 << 20)
    bad = write_archive(tmp_path / "big.tar.gz", items)

    def cap(size: str) -> tuple[str, ...]:
        if how == "env":
            monkeypatch.setenv("DCBENCH_IMPORT_MAX_SIZE", size)
            return ()
        return ("--max-size", size)

    extra = cap("2000000")  # bytes: 2 MB, under the 3 MiB entry
    rc, line = run_import(bad, tmp_path / "small", capsys, *extra)
    assert rc == 2 and f"entry {bomb!r}" in line and "size cap" in line, line
    assert_nothing_left(tmp_path / "small")
    extra = cap("4MiB")
    rc, line = run_import(bad, tmp_path / "large", capsys, *extra)
    assert rc == 0, line
    assert (tmp_path / "large" / "blob.bin").stat().st_size == 3 << 20


def test_a_bad_size_is_one_line(tmp_path, good, capsys):
    for size in ("12XB", "-5", "0", "lots", "1e999"):
        rc, line = run_import(good[0], tmp_path / "dest", capsys, "--max-size", size)
        assert rc == 2 and "--max-size" in line and "not a size" in line, (size, line)
        assert_nothing_left(tmp_path / "dest")


def test_parse_size_units():
    from dcbench.artifacts.archive import parse_size

    assert parse_size("500MB") == 500_000_000 and parse_size("2GiB") == 2 << 30 and parse_size("1234") == 1234
    assert parse_size("1.5 KiB") == 1536 and parse_size("3k") == 3072 and parse_size("7 b") == 7


def test_a_fault_found_while_loading_names_the_entry_not_a_temporary_folder(tmp_path, good, capsys):
    items = resign(replaced(good[1], {"annotations.json": b"{"}))
    bad = write_archive(tmp_path / "bad.tar.gz", items)
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and f"entry '{ROOT}/annotations.json'" in line and "malformed JSON" in line, line
    assert ".partial" not in line
    assert_nothing_left(tmp_path / "dest")


# -- manifests and cards: well-formed ------------------------------------------------------------------------------
BAD_MANIFESTS = [
    (b"[1, 2]", "a JSON object"),
    (b'"random"', "a JSON object"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"{", "malformed JSON"),
    (b"[" * 100_000, "malformed JSON"),
    (b"{}", "key 'method'"),
    (b'{"method": 5}', "key 'method'"),
    (b'{"method": ""}', "key 'method'"),
    (b'{"method": "random", "budget": "2"}', "key 'budget'"),
    (b'{"method": "random", "budget": true}', "key 'budget'"),
    (b'{"method": "random", "n_train": 0}', "key 'n_train'"),
    (b'{"method": "random", "options": []}', "key 'options'"),
    (b'{"method": "random", "seed": 1.5}', "key 'seed'"),
    (b'{"method": "random", "teacher": {"checkpoint": 3}}', "key 'teacher'"),
    (b'{"method": "random", "selected_ids": {"a": 1}}', "key 'selected_ids'"),
    (b'{"method": "random", "features": []}', "key 'features'"),
    (b'{"method": "random", "kind": "full train split"}', "key 'kind'"),
]


@pytest.mark.parametrize("data,problem", BAD_MANIFESTS, ids=[str(k) for k in range(len(BAD_MANIFESTS))])
def test_a_malformed_manifest_is_one_error_naming_the_file_and_the_key(tmp_path, data, problem):
    from dcbench.condensed import load_condensed

    set_dir = make_set(tmp_path / "set")
    (set_dir / "manifest.json").write_bytes(data)
    with pytest.raises(DatasetError) as caught:
        load_condensed(set_dir)
    assert str(set_dir / "manifest.json") in str(caught.value) and problem in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("data,problem", BAD_MANIFESTS[:4] + BAD_MANIFESTS[8:10], ids=str)
def test_a_malformed_manifest_is_refused_on_import(tmp_path, good, capsys, data, problem):
    bad = write_archive(tmp_path / "bad.tar.gz", resign(replaced(good[1], {"manifest.json": data})))
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and f"entry '{ROOT}/manifest.json'" in line and problem in line, line
    assert_nothing_left(tmp_path / "dest")


def test_export_and_eval_of_a_malformed_set_are_one_line(tmp_path, capsys):
    set_dir = make_set(tmp_path / "set")
    (set_dir / "manifest.json").write_bytes(b"[]")
    for argv in (
        ["export", str(set_dir), str(tmp_path / "x.tar.gz")],
        ["eval", str(set_dir), "--detector", "yolov3-tiny", "--protocol", "smoke", "--test", TINY_SHAPES]
        + ["--out", str(tmp_path / "runs"), "--device", "cpu"],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and "manifest.json" in err[0] and "a JSON object" in err[0], err
    assert not (tmp_path / "x.tar.gz").exists() and not (tmp_path / "runs").exists()


def _card(items) -> str:
    return next(d for i, d in items if i.name == f"{ROOT}/README.md").decode()


BAD_CARDS = [
    (lambda card: b"\xff" + card.encode(), "not UTF-8"),
    (lambda card: "just a readme\n".encode(), "not a dcbench dataset card"),
    (lambda card: card.replace("| images |", "| pictures |").encode(), "row 'images'"),
    (lambda card: card.replace("| images | 2 (2 boxes)", "| images | two").encode(), "row 'images'"),
    (lambda card: card.replace("| ratio | 0.1 (", "| ratio | ten (").encode(), "row 'ratio'"),
]


@pytest.mark.parametrize("edit,problem", BAD_CARDS, ids=[str(k) for k in range(len(BAD_CARDS))])
def test_a_malformed_card_is_refused_on_import_and_load(tmp_path, good, capsys, edit, problem):
    from dcbench.condensed import load_condensed

    card = edit(_card(good[1]))
    bad = write_archive(tmp_path / "bad.tar.gz", resign(replaced(good[1], {"README.md": card})))
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and f"entry '{ROOT}/README.md'" in line and problem in line, line
    assert_nothing_left(tmp_path / "dest")
    rc, line = run_import(good[0], tmp_path / "ok", capsys)
    assert rc == 0
    (tmp_path / "ok" / "README.md").write_bytes(card)
    with pytest.raises(DatasetError, match="README.md.*" + problem.replace("(", r"\(")):
        load_condensed(tmp_path / "ok")


# -- manifests and cards: true -------------------------------------------------------------------------------------
def _lie(items, manifest: dict | None = None, card: tuple[str, str] | None = None, extra=()):
    changes: dict[str, bytes | None] = {}
    if manifest is not None:
        current = json.loads(next(d for i, d in items if i.name == f"{ROOT}/manifest.json"))
        changes["manifest.json"] = json.dumps({**current, **manifest}).encode()
    if card is not None:
        assert card[0] in _card(items), card
        changes["README.md"] = _card(items).replace(*card).encode()
    return resign(replaced(items, changes) + list(extra))


LIES = [
    ({"manifest": {"budget": 5}}, "key 'budget' claims 5 images", "holds 2"),
    ({"manifest": {"n_train": 1}}, "key 'n_train'", "2"),
    ({"manifest": {"selected_ids": ["a", "b", "c"]}}, "key 'selected_ids' lists 3 images", "holds 2"),
    ({"manifest": {"selected_ids": ["a", "a"]}}, "key 'selected_ids'", "twice"),
    ({"manifest": {"ratio": 0.5}}, "key 'ratio'", "0.5"),
    ({"manifest": {"method": "dcod"}}, "row 'method'", "dcod"),
    ({"card": ("`random` (selection)", "`dcod` (selection)")}, "row 'method' says `dcod` (selection)", "`random`"),
    ({"card": ("`random` (selection)", "`random` (synthesis)")}, "row 'method'", "synthesis"),
    ({"card": ("| images | 2 (2 boxes)", "| images | 3 (2 boxes)")}, "row 'images' says 3 (2 boxes)", "2 (2 boxes)"),
    ({"card": ("| images | 2 (2 boxes)", "| images | 2 (7 boxes)")}, "row 'images'", "7 boxes"),
    ({"card": ("0.1 (2 of 20 train images)", "0.5 (2 of 20 train images)")}, "row 'ratio'", "0.5"),
    ({"card": ("0.1 (2 of 20 train images)", "0.1 (2 of 40 train images)")}, "row 'ratio'", "40"),
    ({"card": ("0.1 (2 of 20 train images)", "0.15 (3 of 20 train images)")}, "row 'ratio'", "3"),
    ({"card": ("| seed | 0 |", "| seed | 7 |")}, "row 'seed' says 7", "0"),
    ({"card": ("`0123456789abcdef`", "`fedcba9876543210`")}, "row 'source dataset fingerprint'", "fedcba"),
    ({"card": ("| set fingerprint | `", "| set fingerprint | `0")}, "row 'set fingerprint'", "give"),
    ({"extra": [entry(f"{ROOT}/images/000002_im2.png", b"an image nobody lists")]}, "images", "3 files"),
    ({"extra": [entry(f"{ROOT}/labels/000002_im2.txt", b"0 0.5 0.5 0.1 0.1\n")]}, "labels", "3 files"),
]


@pytest.mark.parametrize("lie,claim,value", LIES, ids=[str(k) for k in range(len(LIES))])
def test_a_set_whose_manifest_or_card_lies_is_refused_on_import(tmp_path, good, capsys, lie, claim, value):
    bad = write_archive(tmp_path / "bad.tar.gz", _lie(good[1], **lie))
    rc, line = run_import(bad, tmp_path / "dest", capsys)
    assert rc == 2 and claim in line and value in line and ".partial" not in line, line
    assert_nothing_left(tmp_path / "dest")


def test_the_truth_imports(tmp_path, good, capsys):
    """Claims that match (a card written by another version in another ratio notation included) import."""
    items = _lie(good[1], card=("0.1 (2 of 20 train images)", "0.10000 (2 of 20 train images)"))
    rc, line = run_import(write_archive(tmp_path / "ok.tar.gz", items), tmp_path / "dest", capsys)
    assert rc == 0, line


def test_ratio_claims_follow_the_budget_rule():
    from dcbench.artifacts.claims import budget_rule, nominal_ratio, ratio_matches

    assert ratio_matches(0.05, 15, 292) and nominal_ratio(15, 292) == 0.05 and budget_rule(0.05, 292) == 15
    assert ratio_matches(15 / 292, 15, 292) and ratio_matches(0.05137, 15, 292)  # the effective ratio, rounded
    assert not ratio_matches(0.1, 15, 292) and not ratio_matches(0.5, 2, 20) and not ratio_matches(2.0, 40, 20)
    for budget, n in [(1, 3), (7, 100), (123_456, 1_000_000), (1, 1_000_000), (99_999, 100_000)]:
        assert ratio_matches(nominal_ratio(budget, n), budget, n)  # what a card writes, its check accepts


def test_the_writer_checks_its_own_claims(tmp_path):
    """A method whose manifest says another budget than the images it wrote fails where it writes the set."""
    with pytest.raises(DatasetError, match="key 'budget' claims 3 images, the set holds 2"):
        make_set(tmp_path / "set", {**MANIFEST, "budget": 3})


def test_eval_refuses_lies(tmp_path, good, capsys):
    """A cell's set edited after it was made, and an imported set whose card was edited: refused, one line."""
    from dcbench.condensed import load_condensed

    rc, _ = run_import(good[0], tmp_path / "imported", capsys)
    assert rc == 0
    card = tmp_path / "imported" / "README.md"
    card.write_text(card.read_text().replace("`random` (selection)", "`dcod` (selection)"))
    local = make_set(tmp_path / "local")
    manifest = json.loads((local / "manifest.json").read_text())
    (local / "manifest.json").write_text(json.dumps({**manifest, "budget": 9}))
    for set_dir, claim in [(tmp_path / "imported", "row 'method' says `dcod`"), (local, "key 'budget' claims 9")]:
        with pytest.raises(DatasetError, match=claim):
            load_condensed(set_dir)
        argv = ["eval", str(set_dir), "--detector", "yolov3-tiny", "--protocol", "smoke", "--test", TINY_SHAPES]
        capsys.readouterr()
        assert main(argv + ["--out", str(tmp_path / "runs"), "--device", "cpu"]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and claim in err[0], err
    assert not (tmp_path / "runs").exists()


def test_eval_refuses_a_card_whose_fingerprint_is_not_the_sets(tmp_path, good, capsys):
    from dcbench.harness.external import EvalConfig, prepare_external
    from dcbench.protocols import get_protocol

    rc, _ = run_import(good[0], tmp_path / "imported", capsys)
    assert rc == 0
    png = tmp_path / "imported" / "images" / "000000_im0.png"
    other = make_set(tmp_path / "other")  # a test set with the same classes (the set itself, in another folder)
    test = f"coco:{other / 'annotations.json'}?images={other / 'images'}"
    config = EvalConfig(str(tmp_path / "imported"), "yolov3-tiny", get_protocol("smoke"), 0, test=test)
    assert prepare_external(config).fingerprint  # the untouched set passes
    write_png(png, seed=9)  # same size, other pixels: the card's fingerprint no longer holds
    with pytest.raises(DatasetError, match="row 'set fingerprint'"):
        prepare_external(config)
