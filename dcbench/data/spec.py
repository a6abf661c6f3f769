"""Dataset specs on the command line, and the train/test split a benchmark uses.

A spec is ``NAME`` or ``NAME:ARG``: a registered dataset (``shapes``, ``voc0712:ROOT``) or a format with a path
(``voc:DIR``, ``coco:FILE.json``, ``yolo:DIR``). Options follow the argument after ``?``:
``coco:val.json?images=val2017``, ``shapes:?n_train=200&seed=3``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from dcbench.data.model import DetectionDataset
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
    from dcbench.data.files import expand_user

    try:
        return expand_user(path).exists()
    except DatasetError:  # ~name of an unknown user: not a path that exists; loading it says so
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
