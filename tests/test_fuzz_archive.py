"""Fuzzing what a condensed set arrives with: manifests with random JSON in their fields, or random bytes; cards
with rows rewritten, dropped or doubled; archives truncated, with bytes flipped, entries added or renamed. Whatever
the input, loading or importing it either works (and then the set loads, and an archive's files are the ones its
checksums vouch for) or raises a one-line DcbenchError, never another exception, and a failed import leaves no
destination and no temporary folder behind."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dcbench.artifacts.archive import import_archive
from dcbench.artifacts.schema import FIELDS
from dcbench.condensed import load_condensed
from dcbench.errors import DcbenchError
from tests.test_archive_safety import ROOT, entry, export, make_set, members, replaced, resign, tar_bytes

FUZZ = settings(
    max_examples=int(os.environ.get("DCBENCH_FUZZ_EXAMPLES", "80")),  # a long hunt: DCBENCH_FUZZ_EXAMPLES=5000
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_n = itertools.count()

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
KEYS = st.sampled_from(sorted(FIELDS) + ["labels", "canvas", "initial_ids", "loss_history", "mine"])
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24)
PREFIXES = st.sampled_from([f"{ROOT}/", f"{ROOT}/images/", f"{ROOT}/labels/", "", "other/", f"{ROOT}/../", "/"])


@pytest.fixture
def base(tmp_path) -> dict:
    set_dir = make_set(tmp_path / "base" / ROOT)
    archive = export(set_dir, tmp_path / "base.tar.gz")
    data = archive.read_bytes()
    return {"set": set_dir, "archive": data, "tar": gzip.decompress(data), "items": members(archive)}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _load_or_fail(folder: Path):
    """load_condensed: the set, or None after a one-line DcbenchError (anything else propagates: a bug)."""
    try:
        loaded = load_condensed(folder)
    except DcbenchError as exc:
        assert "\n" not in str(exc), str(exc)
        event(f"load refused: {type(exc).__name__}")
        return None
    event("loaded")
    return loaded


def _import_or_fail(tmp_path: Path, archive_bytes: bytes) -> Path | None:
    """Import the bytes: the destination when it worked; None when a one-line DcbenchError refused it, with no
    destination and no temporary folder left."""
    n = next(_n)
    archive, dest = tmp_path / f"fuzz{n}.tar.gz", tmp_path / f"dest{n}" / "set"
    archive.write_bytes(archive_bytes)
    try:
        import_archive(archive, dest)
    except DcbenchError as exc:
        assert "\n" not in str(exc), str(exc)
        event("import refused")
        assert not dest.exists() and not dest.parent.exists(), "a failed import left its destination"
        assert not list(tmp_path.glob(f"dest{n}/.set.partial*")), "a failed import left its temporary folder"
        return None
    finally:
        archive.unlink()
    assert load_condensed(dest) is not None  # what import accepts loads
    event("imported")
    return dest


def _gz(tar: bytes) -> bytes:
    return gzip.compress(tar, compresslevel=1, mtime=0)


# -- manifests -----------------------------------------------------------------------------------------------------
@FUZZ
@given(key=KEYS, value=JSON, drop=st.booleans())
@pytest.mark.slow
def test_manifest_fields(tmp_path, base, key, value, drop):
    """Any JSON in any field: the set loads with exactly that manifest, and then exports and imports again; or it
    is refused in one line."""
    folder = tmp_path / f"m{next(_n)}"
    shutil.copytree(base["set"], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if drop:
        manifest.pop(key, None)
    else:
        manifest[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    loaded = _load_or_fail(folder)
    if loaded is not None:
        assert json.dumps(loaded.manifest, sort_keys=True) == json.dumps(manifest, sort_keys=True)
        dest = _import_or_fail(tmp_path, export(folder, tmp_path / f"{folder.name}.tar.gz").read_bytes())
        assert dest is not None, "a set that loads must survive export and import"
        assert json.loads((dest / "manifest.json").read_text()) == json.loads(json.dumps(manifest))


@FUZZ
@given(data=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
@pytest.mark.slow
def test_manifest_bytes(tmp_path, base, data):
    folder = tmp_path / f"b{next(_n)}"
    shutil.copytree(base["set"], folder)
    (folder / "manifest.json").write_bytes(data)
    loaded = _load_or_fail(folder)
    assert loaded is None or isinstance(loaded.manifest, dict)
    items = resign(replaced(base["items"], {"manifest.json": data}))
    _import_or_fail(tmp_path, _gz(tar_bytes(items)))


# -- cards ---------------------------------------------------------------------------------------------------------
def _card_lines(base) -> list[str]:
    return next(d for i, d in base["items"] if i.name == f"{ROOT}/README.md").decode().split("\n")


@FUZZ
@given(
    how=st.sampled_from(["value", "drop", "double", "bytes"]),
    line=st.integers(0, 40),
    text=st.text(max_size=30),
    data=st.binary(max_size=100),
)
@pytest.mark.slow
def test_card_edits(tmp_path, base, how, line, text, data):
    lines = _card_lines(base)
    k = line % len(lines)
    if how == "value" and lines[k].startswith("| "):
        lines[k] = lines[k].split(" | ")[0] + f" | {text} |"
    elif how == "value":
        lines[k] = text
    elif how == "drop":
        del lines[k]
    elif how == "double":
        lines.insert(k, lines[k])
    card = data if how == "bytes" else "\n".join(lines).encode()
    dest = _import_or_fail(tmp_path, _gz(tar_bytes(resign(replaced(base["items"], {"README.md": card})))))
    if dest is not None:
        assert (dest / "README.md").read_bytes() == card


# -- archives ------------------------------------------------------------------------------------------------------
def _same_set(base, dest: Path | None) -> None:
    """An import of a damaged archive that worked holds the very files the original did."""
    if dest is not None:
        original = _files(base["set"])
        assert {k: v for k, v in _files(dest).items() if k in original} == original


@FUZZ
@given(where=st.floats(0, 1, exclude_max=True), compressed=st.booleans())
@pytest.mark.slow
def test_truncated(tmp_path, base, where, compressed):
    if compressed:
        data = base["archive"][: int(where * len(base["archive"]))]
    else:
        data = _gz(base["tar"][: int(where * len(base["tar"]))])
    _same_set(base, _import_or_fail(tmp_path, data))


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4))
@pytest.mark.slow
def test_flipped_bytes(tmp_path, base, flips):
    for source in ("archive", "tar"):
        data = bytearray(base[source])
        for where, mask in flips:
            data[int(where * len(data))] ^= mask
        _same_set(base, _import_or_fail(tmp_path, bytes(data) if source == "archive" else _gz(bytes(data))))


@FUZZ
@given(
    prefix=PREFIXES,
    name=NAMES,
    payload=st.binary(max_size=64),
    at=st.integers(0, 30),
    listed=st.booleans(),
    folder=st.booleans(),
)
@pytest.mark.slow
def test_extra_entries(tmp_path, base, prefix, name, payload, at, listed, folder):
    items = list(base["items"])
    try:
        extra = entry(prefix + name, None if folder else payload)
        tar_bytes([extra])
    except (ValueError, UnicodeError):
        return  # a name tarfile itself cannot write: no archive to test
    items.insert(at % (len(items) + 1), extra)
    if listed and "/" in extra[0].name and not folder:
        items = resign(items)
    dest = _import_or_fail(tmp_path, _gz(tar_bytes(items)))
    _same_set(base, dest)


@FUZZ
@given(which=st.integers(0, 40), prefix=PREFIXES, name=NAMES, listed=st.booleans())
@pytest.mark.slow
def test_renamed_entries(tmp_path, base, which, prefix, name, listed):
    items = list(base["items"])
    k = which % len(items)
    info, data = items[k]
    items[k] = entry(prefix + name, data)
    try:
        tar_bytes([items[k]])
    except (ValueError, UnicodeError):
        return
    if listed and items[k][0].name.startswith(f"{ROOT}/") and data is not None:
        items = resign(items)
    dest = _import_or_fail(tmp_path, _gz(tar_bytes(items)))
    if dest is not None and not listed:
        _same_set(base, dest)
