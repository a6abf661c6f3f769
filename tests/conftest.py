from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Generated datasets and caches go to a per-session folder, never to the user's cache, even when DCBENCH_CACHE is
# set (a user's cache once collected 12 dataset variants and 3 teachers from a test run). DCBENCH_TEST_CACHE
# names a folder to reuse between test runs instead. The per-session folder is removed when the session ends: it
# holds a quarter of a gigabyte of teachers, and a CI machine that kept one per run once ran out of disk.
_SESSION_CACHE = None if os.environ.get("DCBENCH_TEST_CACHE") else tempfile.mkdtemp(prefix="dcbench-test-cache-")
os.environ["DCBENCH_CACHE"] = os.environ.get("DCBENCH_TEST_CACHE") or _SESSION_CACHE
os.environ.setdefault("DCBENCH_DISABLE_PLUGIN_AUTOLOAD", "0")
# Test modules import ultralytics at collection (importorskip), before dcbench can prepare it: make it offline and
# keep its settings out of the home folder from the start, as dcbench.detectors.ultralytics does for real runs.
os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(os.environ["DCBENCH_CACHE"], "ultralytics-config"))
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "0"
os.environ.setdefault("YOLO_VERBOSE", "False")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY_SHAPES = "shapes:?n_train=20&n_test=4&size=64&max_extent=28"


def smoke_run(
    out: Path,
    *,
    method: str = "random",
    ratio: str = "0.1",
    dataset: str = TINY_SHAPES,
    detector: str = "yolov3-tiny",
    extra: tuple[str, ...] = (),
) -> list[str]:
    """``dcbench run`` arguments for a cell that takes seconds: the smoke protocol on the CPU."""
    return [
        "run",
        "--method",
        method,
        "--ratio",
        ratio,
        "--detector",
        detector,
        "--protocol",
        "smoke",
        "--dataset",
        dataset,
        "--out",
        str(out),
        "--device",
        "cpu",
        *extra,
    ]


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is not present (it ships beside the repository in CI, not in a clone)")
    return path


def write_png(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


VOC_OBJECT = """<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>
<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"""


def write_voc_xml(path: Path, filename: str, objects: list[tuple], width: int = 64, height: int = 48) -> Path:
    objs = "".join(
        VOC_OBJECT.format(name=o[0], x1=o[1], y1=o[2], x2=o[3], y2=o[4], difficult=o[5] if len(o) > 5 else 0)
        for o in objects
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<annotation><filename>{filename}</filename><size><width>{width}</width><height>{height}</height>"
        f"<depth>3</depth></size>{objs}</annotation>"
    )
    return path


@pytest.fixture
def tiny_voc(tmp_path: Path) -> Path:
    """A 4-image VOC folder with split files: 2 classes, one difficult box."""
    root = tmp_path / "voc"
    specs = {
        "a": [("cat", 5, 5, 30, 30), ("dog", 20, 10, 60, 40, 1)],
        "b": [("dog", 1, 1, 64, 48)],
        "c": [("cat", 10, 10, 20, 20)],
        "d": [],
    }
    for k, (stem, objs) in enumerate(specs.items()):
        write_png(root / "JPEGImages" / f"{stem}.png", seed=k)
        write_voc_xml(root / "Annotations" / f"{stem}.xml", f"{stem}.png", objs)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("a\nb\nc\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("d\n")
    return root


@pytest.fixture(autouse=True)
def _fresh_registries():
    """The CLI caches the registries per process (``--no-plugins`` rebuilds them): start and end each test clean."""
    from dcbench.plugins import manager

    manager.clear_registries()
    yield
    manager.clear_registries()
