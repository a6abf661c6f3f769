"""What a condensed set says about itself, held against what it is.

A set travels with two descriptions, its ``manifest.json`` (how it was made, written by the method) and, once
exported, a dataset card (``README.md``). Both are read by people and copied into results (``dcbench eval`` records
the manifest's method as who made the set), so neither is trusted: the image count (``budget``), the ratio, the
selected images and, for a card, the method, seed and fingerprints must agree with the manifest and with the files
that are really there. A disagreement is a one-line :class:`DatasetError` naming the file, the claim and both
values.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from dcbench.data.model import DetectionDataset
from dcbench.errors import DatasetError

RATIO_DIGITS_TOLERANCE = 5e-4  # a ratio printed to 4 significant digits is this close (relatively) to the truth


def budget_rule(ratio: float, n_train: int) -> int | None:
    """The harness's budget for ``ratio`` of ``n_train`` images (:func:`dcbench.budget.budget_for`), or None
    where the rule refuses the ratio."""
    from dcbench.budget import budget_for
    from dcbench.errors import ConfigError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its rounding warning is for a cell being configured, not for a check
        try:
            return budget_for(ratio, n_train)
        except ConfigError:
            return None


def nominal_ratio(budget: int, n_train: int) -> float:
    """The shortest decimal ratio whose budget under the harness's rule is ``budget``: a 15-image set of a 292-image
    train set is 0.05 (effective 0.0514), so it shares the leaderboard column of the cells that made 15 images."""
    effective = budget / n_train
    for digits in range(1, 7):
        ratio = float(f"{effective:.{digits}g}")
        if 0 < ratio <= 1 and budget_rule(ratio, n_train) == budget:
            return ratio
    return effective


def ratio_matches(ratio: float, budget: int, n_train: int) -> bool:
    """Whether a stated ``ratio`` of ``n_train`` images can describe a set of ``budget`` images: the budget rule
    gives that budget for it (0.05 of 292 is 15), or it is the effective ratio budget / n_train, rounded."""
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not math.isfinite(ratio) or n_train < 1:
        return False
    if budget_rule(ratio, n_train) == budget:
        return True
    return 0 < ratio <= 1 and math.isclose(ratio, budget / n_train, rel_tol=RATIO_DIGITS_TOLERANCE)


def count_files(folder: Path, suffix: str | None = None) -> int | None:
    """Plain, visible files under ``folder`` (with ``suffix``), or None when there is no such folder."""
    if not folder.is_dir():
        return None
    return sum(
        1
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".") and (suffix is None or p.suffix == suffix)
    )


def check_files(path: Path, ds: DetectionDataset) -> None:
    """The set's folders hold one image and one label file per image that annotations.json lists."""
    n = len(ds)
    for folder, suffix, what in (("images", None, "images"), ("labels", ".txt", "YOLO label files")):
        present = count_files(path / folder, suffix)
        if present is not None and present != n:
            raise DatasetError(path / folder, f"holds {present} files, annotations.json lists {n} {what}")


def check_manifest_claims(where: Path, manifest: dict, n: int) -> None:
    """The manifest's budget, selection, train size and ratio against the ``n`` images the set holds."""
    budget, n_train = manifest.get("budget"), manifest.get("n_train")
    if budget is not None and budget != n:
        raise DatasetError(where, f"key 'budget' claims {budget} images, the set holds {n}")
    ids = manifest.get("selected_ids")
    if ids is not None and len(ids) != n:
        raise DatasetError(where, f"key 'selected_ids' lists {len(ids)} images, the set holds {n}")
    if ids is not None and len(set(map(repr, ids))) != len(ids):
        raise DatasetError(where, "key 'selected_ids' lists an image twice")
    if n_train is not None and n_train < n:
        raise DatasetError(where, f"key 'n_train' says the train set had {n_train} images, the set holds {n}")
    ratio = manifest.get("ratio")
    if ratio is not None and n_train is not None and not ratio_matches(ratio, n, n_train):
        raise DatasetError(
            where, f"key 'ratio' claims {ratio:g} of {n_train} train images, the set holds {n} ({n / n_train:.4g})"
        )


def check_card_claims(where: Path, card: dict, manifest: dict, ds: DetectionDataset) -> None:
    """The card's rows against the manifest (method, kind, seed, source fingerprint) and the set (images, boxes,
    ratio). ``card`` is :func:`dcbench.artifacts.card.parse_card`'s."""
    kind = manifest.get("kind")
    expected = {
        "method": f"`{manifest.get('method')}` ({kind if kind is not None else 'unknown kind'})",
        "images": f"{len(ds)} ({ds.n_boxes} boxes)",
        "seed": str(manifest.get("seed", "unknown")),
        "source dataset fingerprint": f"`{manifest.get('source_fingerprint', 'unknown')}`",
    }
    for row, want in expected.items():
        said = card["rows"].get(row)
        if said is not None and said != want:
            source = "the set holds" if row == "images" else "manifest.json says"
            raise DatasetError(where, f"row {row!r} says {said}, {source} {want}")
    _check_card_ratio(where, card.get("ratio"), manifest, len(ds))


def _check_card_ratio(where: Path, stated: tuple[float, int, int] | None, manifest: dict, n: int) -> None:
    if stated is None:
        return  # "unknown": the card claims nothing
    ratio, budget, n_train = stated
    said = f"row 'ratio' says {ratio:g} ({budget} of {n_train} train images)"
    if budget != n:
        raise DatasetError(where, f"{said}, the set holds {n} images")
    if manifest.get("n_train") != n_train:
        raise DatasetError(where, f"{said}, manifest.json says n_train {manifest.get('n_train')}")
    if not ratio_matches(ratio, budget, n_train):
        rule = budget_rule(ratio, n_train)
        raise DatasetError(where, f"{said}, but {ratio:g} of {n_train} is {rule} images, not {budget}")


def check_fingerprint(where: Path, card: dict | None, actual: str) -> None:
    """The card's set fingerprint against the one the set's image bytes and boxes give."""
    claimed = (card or {}).get("fingerprint")
    if claimed is not None and claimed != actual:
        raise DatasetError(where, f"row 'set fingerprint' says {claimed}, the set's images and boxes give {actual}")
