"""The one in-memory model of a detection dataset that every reader produces and every writer consumes."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dcbench.errors import DatasetError


@dataclass
class LoadReport:
    """What validation changed while loading: counted, so a user sees how much of their data was touched."""

    dropped_zero_size: int = 0
    clipped: int = 0
    size_mismatch: int = 0
    notes: list[str] = field(default_factory=list)  # the first few concrete cases, file and box
    max_notes: int = 20

    def note(self, message: str) -> None:
        if len(self.notes) < self.max_notes:
            self.notes.append(message)

    def merge(self, other: LoadReport) -> LoadReport:
        merged = LoadReport(
            self.dropped_zero_size + other.dropped_zero_size,
            self.clipped + other.clipped,
            self.size_mismatch + other.size_mismatch,
        )
        for n in self.notes + other.notes:
            merged.note(n)
        return merged

    def as_dict(self) -> dict:
        return {
            "dropped_zero_size": self.dropped_zero_size,
            "clipped": self.clipped,
            "size_mismatch": self.size_mismatch,
            "notes": list(self.notes),
        }


@dataclass
class ImageRecord:
    """One image and its boxes. Boxes are absolute pixels ``x1, y1, x2, y2`` (0-based, x2/y2 exclusive edge)."""

    id: str
    file: Path
    width: int
    height: int
    boxes: np.ndarray  # (n, 4) float32
    labels: np.ndarray  # (n,) int64, index into DetectionDataset.categories
    ignore: np.ndarray  # (n,) bool: crowd or 'difficult'; not trained on, ignored by the evaluator

    def __post_init__(self) -> None:
        self.file = Path(self.file)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.ignore = np.asarray(self.ignore, dtype=bool).reshape(-1)
        if not (len(self.boxes) == len(self.labels) == len(self.ignore)):
            raise ValueError(f"{self.file}: boxes, labels and ignore flags differ in length")

    @property
    def n_boxes(self) -> int:
        return len(self.labels)


@dataclass
class DetectionDataset:
    """Images with boxes, the category names, and named splits (lists of image indices)."""

    name: str
    categories: list[str]
    images: list[ImageRecord]
    splits: dict[str, list[int]] = field(default_factory=dict)
    report: LoadReport = field(default_factory=LoadReport)
    source: str = ""
    # memo of fingerprint(): a run asks for it several times (teacher key, feature key, manifest, result), and at
    # COCO scale each call stats 118k files. init=False: copies made with replace()/subset() recompute it.
    _fingerprint: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    @property
    def n_boxes(self) -> int:
        return sum(im.n_boxes for im in self.images)

    def class_counts(self, include_ignored: bool = True) -> dict[str, int]:
        counts: Counter[int] = Counter()
        for im in self.images:
            labels = im.labels if include_ignored else im.labels[~im.ignore]
            counts.update(labels.tolist())
        return {name: counts.get(i, 0) for i, name in enumerate(self.categories)}

    def subset(self, indices: list[int] | np.ndarray, name: str | None = None) -> DetectionDataset:
        idx = [int(i) for i in indices]
        return DetectionDataset(
            name=name or self.name,
            categories=list(self.categories),
            images=[self.images[i] for i in idx],
            splits={},
            report=self.report,
            source=self.source,
        )

    def split(self, split_name: str) -> DetectionDataset:
        if split_name not in self.splits:
            raise DatasetError(
                self.source or self.name, f"no split {split_name!r} (splits: {sorted(self.splits) or 'none'})"
            )
        return self.subset(self.splits[split_name], name=f"{self.name}/{split_name}")

    def with_name(self, name: str) -> DetectionDataset:
        return replace(self, name=name)

    def fingerprint(self) -> str:
        """A content hash of the annotations, image sizes and file sizes (not pixels: hashing 18 GB of COCO on
        every run would cost minutes). Two datasets with equal fingerprints train identical detectors."""
        key = (id(self.images), len(self.images), tuple(self.categories))
        if self._fingerprint is not None and self._fingerprint[0] == key:
            return self._fingerprint[1]
        h = hashlib.sha256()
        h.update("\x1f".join(self.categories).encode())
        for im in self.images:
            try:
                size = im.file.stat().st_size
            except OSError:
                size = -1
            h.update(f"\x1e{im.id}\x1f{im.file.name}\x1f{im.width}\x1f{im.height}\x1f{size}".encode())
            h.update(im.boxes.tobytes())
            h.update(im.labels.tobytes())
            h.update(im.ignore.tobytes())
        self._fingerprint = (key, h.hexdigest()[:16])
        return self._fingerprint[1]


def concat(name: str, parts: dict[str, DetectionDataset], source: str = "") -> DetectionDataset:
    """Join datasets with the same categories; each part becomes a split named by its key."""
    if not parts:
        raise DatasetError(source or name, "no parts to join")
    first = next(iter(parts.values()))
    images: list[ImageRecord] = []
    splits: dict[str, list[int]] = {}
    report = LoadReport()
    for split_name, part in parts.items():
        if part.categories != first.categories:
            raise DatasetError(
                part.source, f"categories differ from {first.source}: {part.categories} vs {first.categories}"
            )
        start = len(images)
        images.extend(part.images)
        splits[split_name] = list(range(start, len(images)))
        report = report.merge(part.report)
    return DetectionDataset(name, list(first.categories), images, splits, report, source or name)
