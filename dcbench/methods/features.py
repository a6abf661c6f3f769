"""Whole-image features for feature-based selection (K-Center, Herding, DCOD's initialisations).

Extractors:

* ``teacher`` (default): the Fetch detector's backbone, global-average-pooled. ImageNet weights cannot be
  downloaded here, and the teacher is trained on the very data being condensed.
* ``resnet50:PATH``: torchvision's ResNet-50 with ImageNet weights read from a local file (the DCOD paper's
  choice), 2048-d pooled features of the image letterboxed to 224 px.

Features are cached per (dataset fingerprint, extractor fingerprint, image size) in ``$DCBENCH_CACHE/features``,
so several ratios and methods reuse one extraction.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dcbench.cache import cache_dir
from dcbench.data.model import DetectionDataset
from dcbench.errors import ConfigError
from dcbench.io import atomic_write, atomic_write_text, sha256_file, stable_hash
from dcbench.progress import SILENT

if TYPE_CHECKING:
    from dcbench.progress import Reporter
    from dcbench.protocols import Protocol as TrainProtocol

log = logging.getLogger(__name__)

COST_SUFFIX = ".cost.json"  # beside <key>.npy: how long its extraction took
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def file_digest(path: Path) -> str:
    return sha256_file(path)[:16]


def parse_extractor(spec: str) -> tuple[str, Path | None]:
    kind, _, arg = spec.partition(":")
    if kind == "teacher" and not arg:
        return kind, None
    if kind == "resnet50":
        if not arg:
            raise ConfigError("resnet50 needs a local ImageNet weights file: extractor=resnet50:/path/resnet50.pth")
        path = Path(arg).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: ResNet-50 weights file not found")
        return kind, path
    raise ConfigError(f"unknown feature extractor {spec!r} (use teacher or resnet50:PATH)")


def _resnet50_features(weights: Path, dataset: DetectionDataset, device: str, reporter) -> np.ndarray:
    import torch
    import torchvision

    from dcbench.io import letterbox

    model = torchvision.models.resnet50(weights=None)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"{weights}: not torchvision ResNet-50 weights: {str(exc).splitlines()[0]}") from None
    model.fc = torch.nn.Identity()
    model = model.eval().to(device)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    out = []
    with (
        torch.no_grad(),
        reporter.stage(f"resnet50 features of {len(dataset)} images", total=len(dataset), unit="image") as step,
    ):
        for start in range(0, len(dataset), 32):
            arr = np.stack([letterbox(im.file, 224)[0] for im in dataset.images[start : start + 32]])
            x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(255).to(device)
            out.append(model((x - mean) / std).float().cpu().numpy())
            step(min(start + 32, len(dataset)))
    return np.concatenate(out)


def image_features(
    dataset: DetectionDataset,
    extractor: str,
    *,
    teacher,
    protocol: TrainProtocol,
    device: str,
    reporter: Reporter | None = None,
) -> tuple[np.ndarray, dict]:
    """(N, D) float32 features of every image of ``dataset`` and a record of how they were made."""
    reporter = reporter or SILENT
    kind, path = parse_extractor(extractor)
    if kind == "teacher":
        if teacher is None:
            raise ConfigError("the teacher feature extractor needs a trained teacher")
        ident = {
            "kind": kind,
            "detector": teacher.backend.name,
            "weights": file_digest(Path(teacher.checkpoint.path)),
            "imgsz": protocol.imgsz,
        }
    else:
        assert path is not None  # parse_extractor gives resnet50 a path
        ident = {"kind": kind, "weights": file_digest(path), "imgsz": 224}
    key = stable_hash({"data": dataset.fingerprint(), **ident}, 16)
    cached = cache_dir("features") / f"{key}.npy"
    record = {"extractor": extractor.split(":")[0], **ident, "cache_key": key}
    feats = _load_cached(cached, len(dataset), reporter)
    if feats is not None:
        log.info("features %s: cached", key)
        return feats, {**record, "cached": True, "dim": int(feats.shape[1]), **_extraction_cost(cached)}
    started = time.perf_counter()
    feats = _extract(kind, path, dataset, teacher=teacher, protocol=protocol, device=device, reporter=reporter)
    extract_s = round(time.perf_counter() - started, 3)

    # the array and its cost first, its checksum last: an entry without a checksum is incomplete and made again
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to a path
            np.save(f, feats)

    atomic_write(cached, save)
    atomic_write_text(cached.with_suffix(COST_SUFFIX), json.dumps({"extract_s": extract_s}))
    atomic_write_text(cached.with_suffix(".sha256"), sha256_file(cached))
    return feats, {**record, "cached": False, "dim": int(feats.shape[1]), "extract_s": extract_s}


def _extract(kind: str, path: Path | None, dataset: DetectionDataset, *, teacher, protocol, device, reporter):
    if kind == "teacher":
        feats = teacher.backend.features(
            teacher.checkpoint, dataset, protocol=protocol, device=device, reporter=reporter
        )
    else:
        assert path is not None
        feats = _resnet50_features(path, dataset, device, reporter)
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    if feats.shape[0] != len(dataset) or not np.isfinite(feats).all():
        raise RuntimeError(f"feature extractor returned {feats.shape} (non-finite values?) for {len(dataset)} images")
    return feats


def _extraction_cost(cached: Path) -> dict:
    """What the extraction a cached entry holds took (``extract_s``), so that every cell that reads it can be
    charged it; {} for an entry written before dcbench recorded it, or whose record is unreadable."""
    try:
        extract_s = json.loads(cached.with_suffix(COST_SUFFIX).read_text())["extract_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"extract_s": float(extract_s)} if isinstance(extract_s, (int, float)) else {}


def _load_cached(cached: Path, n: int, reporter) -> np.ndarray | None:
    """The cached features, or None when absent or damaged (truncated, altered since written, wrong length):
    a damaged entry is said in one line and extracted again."""
    checksum = cached.with_suffix(".sha256")
    if not cached.is_file():
        return None
    problem = None
    if checksum.is_file() and sha256_file(cached) != checksum.read_text().strip():
        problem = "does not match its recorded checksum"
    else:
        try:
            feats = np.load(cached)
            problem = None if feats.ndim == 2 and feats.shape[0] == n else f"holds {feats.shape}, not {n} rows"
        except (ValueError, OSError, EOFError) as exc:
            problem = f"is unreadable ({type(exc).__name__})"
    if problem is None:
        return feats
    if reporter is not None:
        reporter.note(f"{cached}: cached features {problem}; extracting them again")
    for damaged in (cached, checksum, cached.with_suffix(COST_SUFFIX)):
        damaged.unlink(missing_ok=True)
    return None
