"""Every image decoded once, before anything is trained on it.

Readers open image headers only (COCO's 118k images would cost minutes to decode on every load), so a truncated
JPEG used to pass ``data check`` and stop a run after its teacher had trained. Here every pixel of every image is
decoded, in threads (Pillow releases the GIL while it decodes), and checked against the size its annotation
gives (with EXIF orientation applied, as everywhere: :mod:`dcbench.data.images`).

The verdict of each file is cached with the file's size and modification time, in one cache file per dataset
source (its folder or file: the whole dataset, its splits and any subset share it), so checking an unchanged dataset
again -- ``run`` after ``data check``, the test split after the train split -- only stats its files.

What happens to a bad image is the user's choice, recorded with every result: ``fail`` (the default) names every
bad file and stops; ``skip`` leaves them out. A dataset with files left out has another fingerprint, so the
teachers, condensed sets and results made from it never mix with those made from the whole dataset.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dcbench.data.images import SWAPS_SIDES, ImageCheck, decode_check
from dcbench.data.model import DetectionDataset
from dcbench.errors import DatasetError

CACHE_VERSION = 1
MAX_LISTED = 10  # bad files named in one error line; all of them are in the result and in ``data check --json``


@dataclass(frozen=True)
class BadImage:
    file: str
    problem: str


@dataclass
class ImageVerdict:
    """What checking a dataset's images found."""

    checked: int = 0
    decoded: int = 0  # the rest came from the cache
    seconds: float = 0.0
    bad: list[BadImage] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "checked": self.checked,
            "decoded": self.decoded,
            "seconds": round(self.seconds, 3),
            "bad": [asdict(b) for b in self.bad],
        }


def _stat_key(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def cache_file(ds: DetectionDataset) -> Path | None:
    from dcbench.cache import cache_dir
    from dcbench.io import stable_hash

    try:
        return cache_dir("image-checks") / f"{stable_hash(ds.source or ds.name)}.json"
    except OSError:  # an unwritable cache costs time, never the check
        return None


def _read_cache(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["files"] if data.get("version") == CACHE_VERSION and isinstance(data["files"], dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # missing or damaged: decode again


def _write_cache(path: Path | None, files: dict) -> None:
    from dcbench.io import atomic_write_text

    if path is None:
        return
    try:
        atomic_write_text(path, json.dumps({"version": CACHE_VERSION, "files": files}), durable=False)
    except OSError:
        pass


def _from_cache(entry, stat: list[int] | None) -> ImageCheck | None:
    if not isinstance(entry, list) or len(entry) != 6 or stat is None or entry[:2] != stat:
        return None
    _, _, w, h, orientation, problem = entry
    return ImageCheck(w, h, orientation, problem)


def _size_problem(check: ImageCheck, width: int, height: int) -> str | None:
    if (check.width, check.height) == (width, height):
        return None
    problem = f"annotated size {width}x{height}, but the image is {check.width}x{check.height}"
    if check.orientation in SWAPS_SIDES and (check.height, check.width) == (width, height):
        problem += (
            f" as displayed (its EXIF orientation {check.orientation} turns it; the annotation gives the stored "
            f"pixels' size, so its boxes are likely in the unturned frame)"
        )
    else:
        problem += f" (off by {check.width - width:+d} x {check.height - height:+d} px)"
    return problem


def _decode(files: list[str], todo: list[int], checks: list, reporter, workers: int, label: str) -> None:
    stage = reporter.stage(f"check {label}", total=len(todo), unit="image") if reporter is not None else nullcontext()
    with stage as step, ThreadPoolExecutor(max_workers=workers) as pool:
        for n, (k, check) in enumerate(zip(todo, pool.map(decode_check, [files[k] for k in todo])), 1):
            checks[k] = check
            if step is not None:
                step(n)


def check_images(
    ds: DetectionDataset, *, reporter=None, workers: int | None = None, label: str = "images"
) -> ImageVerdict:
    """Decode every image of ``ds`` (those whose verdict is not cached) and compare it with its annotated size."""
    t0 = time.perf_counter()
    cache_path = cache_file(ds)
    cached = _read_cache(cache_path)
    files = [str(im.file) for im in ds.images]
    stats = [_stat_key(Path(f)) for f in files]
    checks: list[ImageCheck | None] = [_from_cache(cached.get(f), s) for f, s in zip(files, stats)]
    todo = [k for k, c in enumerate(checks) if c is None]
    if todo:
        _decode(files, todo, checks, reporter, workers or min(8, os.cpu_count() or 1), label)
        entries = {
            f: [*(s or [-1, -1]), c.width, c.height, c.orientation, c.problem]
            for f, s, c in zip(files, stats, checks)
            if c
        }
        _write_cache(cache_path, {**cached, **entries})  # the source's other files (another split) stay cached
    verdict = ImageVerdict(checked=len(files), decoded=len(todo))
    for im, check in zip(ds.images, checks):
        assert check is not None
        problem = check.problem or _size_problem(check, im.width, im.height)
        if problem:
            verdict.bad.append(BadImage(str(im.file), problem))
    verdict.seconds = time.perf_counter() - t0
    return verdict


def bad_images_error(bad: list[tuple[str, BadImage]], *, skippable: bool = True) -> DatasetError:
    """One line naming the bad files (the first few when there are many), the split of each, and the way on."""
    way = ", or pass --skip-bad-images" if skippable else ""
    if len(bad) == 1:
        part, b = bad[0]
        return DatasetError(b.file, f"{b.problem} (an image of the {part} split); fix or remove it{way}")
    listed = "; ".join(f"{b.file} ({part}): {b.problem}" for part, b in bad[:MAX_LISTED])
    more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return DatasetError(None, f"{len(bad)} bad images: {listed}{more} (fix or remove them{way})")


def without_bad_images(ds: DetectionDataset, verdict: ImageVerdict) -> DetectionDataset:
    """``ds`` without the images the verdict found bad (its splits kept, re-indexed)."""
    if not verdict.bad:
        return ds
    bad = {b.file for b in verdict.bad}
    keep = [k for k, im in enumerate(ds.images) if str(im.file) not in bad]
    position = {old: new for new, old in enumerate(keep)}
    out = ds.subset(keep)
    out.splits = {s: [position[i] for i in idx if i in position] for s, idx in ds.splits.items()}
    return out


def verified(
    parts: dict[str, DetectionDataset], *, skip: bool, reporter=None, skippable: bool = True
) -> tuple[dict[str, DetectionDataset], dict]:
    """Every image of each named part (``train``, ``test``) checked before anything is trained: one error naming
    every bad file of every part, or with ``skip`` each part without them; and the record a result keeps (the
    policy, each file left out and why, what the check cost)."""
    verdicts = {name: check_images(ds, reporter=reporter, label=f"{name} images") for name, ds in parts.items()}
    bad = [(name, b) for name, v in verdicts.items() for b in v.bad]
    if bad and not skip:
        raise bad_images_error(bad, skippable=skippable)
    kept = {name: without_bad_images(ds, verdicts[name]) for name, ds in parts.items()}
    for name, ds in kept.items():
        if len(ds) == 0:
            raise DatasetError(ds.source or None, f"every image of the {name} split is bad: nothing is left to use")
    record = {
        "policy": "skip" if skip else "fail",
        "skipped": [
            {"split": name, "file": b.file, "problem": b.problem} for name, v in verdicts.items() for b in v.bad
        ],
        **{name: {k: v for k, v in verdict.as_dict().items() if k != "bad"} for name, verdict in verdicts.items()},
    }
    return kept, record
