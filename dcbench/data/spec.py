"""Dataset specs on the command line, and the train/test split a benchmark uses.

A spec is ``NAME`` or ``NAME:ARG``: a registered dataset (``shapes``, ``voc0712:ROOT``) or a format with a path
(``voc:DIR``, ``coco:FILE.json``, ``yolo:DIR``). Options follow the argument after ``?``:
``coco:val.json?images=val2017``, ``shapes:?n_train=200&seed=3``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl

import numpy as np

from dcbench.data.model import DetectionDataset
from dcbench.data.validate import safe_join
from dcbench.errors import DatasetError

DEFAULT_DATASET = "shapes"
HOLDOUT_FRACTION = 0.2
TRAIN_SPLITS = ("trainval", "train")
TEST_SPLITS = ("test", "val")


def parse_spec(spec: str) -> tuple[str, str | None]:
    name, sep, arg = spec.partition(":")
    if not name:
        raise DatasetError(None, f"invalid dataset spec {spec!r}: expected NAME or NAME:ARG")
    return name, (arg if sep else None)


def split_options(arg: str | None) -> tuple[str | None, dict[str, str]]:
    """``"path?k=v&k2=v2"`` -> ``("path", {"k": "v", "k2": "v2"})``; an empty path becomes None."""
    if arg is None:
        return None, {}
    path, _, query = arg.partition("?")
    return (path or None), dict(parse_qsl(query, keep_blank_values=True))


def dataset_identity(spec: str, dataset: DetectionDataset | None = None) -> str:
    """What a dataset *is*, whatever its spelling: cells and tables are named by it. A dataset read from files is
    ``<reader>-<folder or file name>`` (``voc-BCCD`` for ``voc:../data/BCCD``, for an absolute path and with a
    trailing ``/`` alike; the same on every machine); a generated one is its canonical source (``shapes``,
    ``shapes:?n_train=200``). What the files hold is not in the name: the fingerprint recorded with each result
    tells a changed dataset, or another folder of the same name, and its results are redone as stale, never mixed."""
    name, arg = parse_spec(spec)
    path, options = split_options(arg)
    if path is not None and _exists(path):
        query = "".join(f"?{k}={v}" for k, v in sorted(options.items()))
        return f"{name}-{Path(path).expanduser().resolve().name}{query}"
    dataset = dataset if dataset is not None else load_dataset(spec)
    return dataset.source or spec


def _exists(path: str) -> bool:
    try:
        return Path(path).expanduser().exists()
    except RuntimeError:  # ~name of an unknown user: not a path that exists; loading it says so
        return False


def load_dataset(spec: str) -> DetectionDataset:
    from dcbench.plugins.manager import get_registries

    name, arg = parse_spec(spec)
    loader = get_registries().datasets.load(name)
    ds = loader(arg)
    if not isinstance(ds, DetectionDataset):
        raise DatasetError(None, f"dataset loader {name!r} returned {type(ds).__name__}, not a DetectionDataset")
    ds.source = ds.source or spec
    return ds


@dataclass
class TrainTest:
    train: DetectionDataset
    test: DetectionDataset
    how: str  # recorded in results: which splits were used, or that a holdout was drawn
    # what a user should know about the pair, one sentence each (a test set's class list that differs from the
    # training set's); the harness copies them into each result's warnings
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"train": len(self.train), "test": len(self.test), "how": self.how}


def _pick(ds: DetectionDataset, preferred: tuple[str, ...]) -> str | None:
    for name in preferred:
        if name in ds.splits:
            return name
    for name in preferred:  # train2017, val2017 ...
        for split in sorted(ds.splits):
            if split.startswith(name):
                return split
    return None


def _align_categories(test: DetectionDataset, categories: list[str]) -> DetectionDataset:
    if test.categories == categories:
        return test
    unknown = [c for c in test.categories if c not in categories]
    if unknown:
        raise DatasetError(test.source, f"test classes not in the training set: {', '.join(unknown)}")
    remap = [categories.index(c) for c in test.categories]
    images = []
    for im in test.images:
        images.append(replace(im, labels=np.array([remap[int(v)] for v in im.labels], dtype=np.int64)))
    return DetectionDataset(test.name, list(categories), images, {}, test.report, test.source)


def _names(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _class_list_note(train: list[str], test: list[str], source: str) -> str | None:
    """One sentence on how a separate test set's class list differs from the training set's, None when it does not.
    Test classes unknown to training are an error (raised by _align_categories), not a note."""
    absent = [c for c in train if c not in test]
    shared_in_train_order = [c for c in train if c in test]
    reordered = [c for c in test if c in train] != shared_in_train_order
    if not absent and not reordered:
        return None
    parts = []
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        parts.append(
            f"{_names(absent)} {verb} not in its class list ({len(test)} of {len(train)}), so no test box has them"
        )
    if reordered:
        parts.append(f"it lists its classes in another order ({_names(test)})")
    return (
        f"the test set {source} differs from the training set in its classes: {'; '.join(parts)}; "
        "its labels were mapped to the training classes by name"
    )


def holdout_indices(ds: DetectionDataset, fraction: float = HOLDOUT_FRACTION) -> tuple[list[int], list[int]]:
    """A split that depends only on the image ids (not on order, seed or machine)."""
    train: list[int] = []
    test: list[int] = []
    for k, im in enumerate(ds.images):
        bucket = int(hashlib.sha1(im.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if bucket < fraction else train).append(k)
    if not train or not test:
        raise DatasetError(ds.source, f"cannot hold out a test split from {len(ds)} image(s); give a test set")
    return train, test


def resolve_train_test(ds: DetectionDataset, test_ds: DetectionDataset | None = None) -> TrainTest:
    """The benchmark's train and test sets.

    Train: the ``trainval`` or ``train`` split when there is one, else the whole dataset. Test: the separate test
    dataset when given (its ``test``/``val`` split if it has one), else the ``test``/``val`` split, else a
    deterministic 20 % holdout chosen by hashing image ids (said so in ``how``, which every result records).
    """
    train_split = _pick(ds, TRAIN_SPLITS)
    if test_ds is not None:
        train = ds.split(train_split) if train_split else ds
        test_split = _pick(test_ds, TEST_SPLITS)
        test = test_ds.split(test_split) if test_split else test_ds
        note = _class_list_note(ds.categories, test.categories, test_ds.source or test_ds.name)
        test = _align_categories(test, ds.categories)
        how = f"train: {ds.source}{'/' + train_split if train_split else ''}; test: {test_ds.source}{'/' + test_split if test_split else ''}"
        return TrainTest(train, test, how, [note] if note else [])
    test_split = _pick(ds, TEST_SPLITS)
    if test_split and test_split != train_split:
        held_out = set(ds.splits[test_split])
        train = ds.split(train_split) if train_split else ds.subset([i for i in range(len(ds)) if i not in held_out])
        return TrainTest(train, ds.split(test_split), f"splits {train_split or 'rest'}/{test_split} of {ds.source}")
    base = ds.split(train_split) if train_split else ds
    tr, te = holdout_indices(base)
    how = f"holdout: {int(HOLDOUT_FRACTION * 100)} % of {ds.source} by hash of image id (no test split given)"
    return TrainTest(base.subset(tr, f"{ds.name}/holdout-train"), base.subset(te, f"{ds.name}/holdout-test"), how)


# ------------------------------------------------------------------------------------------ the files a spec names
# Readers meet what users' disks hold: links that loop, folders where a file belongs, text that is not UTF-8. The
# helpers below turn each into one DatasetError naming the path, so no OSError, UnicodeDecodeError or RuntimeError
# (Python 3.11's Path.resolve on a looping link) reaches the user as a traceback.

MAX_SIDE = 2**31 - 1  # an image side beyond int32 is a corrupt number, and numpy would overflow on it
_DATA_ERRORS = (ArithmeticError, AttributeError, LookupError, TypeError, ValueError, RecursionError, OSError)


def one_line(text: object, limit: int = 300) -> str:
    """``text`` with its line breaks folded, shortened: an error the CLI prints must stay on one line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _os_problem(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops" if os.path.islink(path) else "passes through a symbolic link that loops"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    return f"cannot read: {exc.strerror or exc}"


def _stat(path: Path, where: str | Path | None) -> os.stat_result | None:
    """``os.stat(path)``, None when nothing is there (a missing parent counts as nothing)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            _fail(path, "is a broken symbolic link", where)
        return None
    except OSError as exc:
        _fail(path, _os_problem(path, exc), where)
    except ValueError:  # a NUL character in the path
        _fail(path, "is not a valid path", where)
    return None


def _fail(path: Path, problem: str, where: str | Path | None) -> NoReturn:
    raise DatasetError(path, problem) if where is None else DatasetError(where, f"{path} {problem}")


def is_file(path: Path, *, where: str | Path | None = None) -> bool:
    """True for a regular file, False when nothing is there. Anything else -- a folder, a link that loops or points
    nowhere, a FIFO (reading it would block forever) -- is a DatasetError: the user meant a file to be there, and
    skipping it would silently change what is read. ``where`` names the file that pointed at ``path``, if any."""
    st = _stat(path, where)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        _fail(path, "is a folder, not a file", where)
    if not stat.S_ISREG(st.st_mode):
        _fail(path, "is not a regular file", where)
    return True


def is_folder(path: Path) -> bool:
    """True for a folder, False when nothing is there; a file or a broken or looping link is a DatasetError."""
    st = _stat(path, None)
    if st is None:
        return False
    if not stat.S_ISDIR(st.st_mode):
        raise DatasetError(path, "is a file, not a folder")
    return True


def list_folder(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except OSError as exc:
        raise DatasetError(path, _os_problem(path, exc)) from None


def read_text(path: Path) -> str:
    """A UTF-8 text file (a leading byte-order mark, as Windows editors write, is not part of the first line)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, _os_problem(path, exc)) from None
    except ValueError:
        raise DatasetError(path, "is not a valid path") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, utf8_problem(data, exc)) from None


def utf8_problem(data: bytes, exc: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    return f"not UTF-8 text (line {line} holds the byte 0x{data[exc.start]:02x}); save it as UTF-8"


def read_class_file(path: Path) -> list[str]:
    """One class name per line, blank lines ignored."""
    return checked_class_names([line.strip() for line in read_text(path).splitlines() if line.strip()], path)


def checked_class_names(names: list[str], path: Path) -> list[str]:
    if not names:
        raise DatasetError(path, "no class names in file")
    dup = sorted(n for n, count in Counter(names).items() if count > 1)
    if dup:
        raise DatasetError(path, f"duplicate class names: {', '.join(dup)}")
    return names


def join_file(root: Path, name: str, *, where: str | Path) -> Path:
    """``root / name`` for a file named inside an annotation, which must exist: never outside ``root``, never a
    folder or a link that loops."""
    try:
        path = safe_join(root, name, where=where)
    except RuntimeError:  # Python 3.11 resolves a looping link with RuntimeError, not OSError
        raise DatasetError(where, f"{root / name} is a symbolic link that loops") from None
    if not is_file(path, where=where):
        raise DatasetError(where, f"image file not found: {path}")
    return path


def expand_user(path: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~name for a user this machine does not know
        raise DatasetError(path, "cannot expand '~': no such user or home folder") from None


def guard_parse(path: str | Path, parse, *args, **kwargs):
    """``parse(*args, **kwargs)``, where an unforeseen exception of the kinds malformed data raises becomes one
    DatasetError naming ``path``: the last line of defence, behind the precise messages the readers give."""
    try:
        return parse(*args, **kwargs)
    except _DATA_ERRORS as exc:
        raise DatasetError(path, f"cannot parse: {type(exc).__name__}: {one_line(exc)}") from exc
