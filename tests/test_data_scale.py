"""What keeps dcbench's dataset path usable at COCO size (benchmarks/bench_scale.py measures it): headers only, never
pixels, where sizes are all that is needed; no per-image path resolution; and the COCO-sized generator the benchmark
uses is deterministic and matches its own JSON."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dcbench.data.coco import read_coco
from dcbench.data.spec import load_dataset
from dcbench.data.validate import safe_join
from dcbench.errors import DatasetError

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("coco_scale_data", ROOT / "benchmarks" / "coco_scale_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def coco_scale(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coco-scale")
    _generator().generate(root, n_train=600, n_val=40, seed=3)
    return root


def test_the_generator_follows_coco_statistics_and_its_images_match_the_json(coco_scale):
    from PIL import Image

    stats = json.loads((coco_scale / "generated.json").read_text())["splits"]["train2017"]
    assert stats["images"] == 600 and 6.5 <= stats["boxes_per_image"] <= 8.1
    assert 0.25 <= stats["person_share"] <= 0.35 and stats["crowd_share"] <= 0.03
    assert np.allclose(stats["small_medium_large"], [0.41, 0.34, 0.25], atol=0.04)
    assert stats["long_side_640"] >= 0.93 and 0.15 <= stats["portrait"] <= 0.33
    data = json.loads((coco_scale / "annotations" / "instances_train2017.json").read_text())
    assert len(data["categories"]) == 80 and max(c["id"] for c in data["categories"]) == 90
    for im in data["images"][:50]:
        with Image.open(coco_scale / "train2017" / im["file_name"]) as opened:
            assert opened.size == (im["width"], im["height"])
            opened.load()  # a valid PNG, not only a header


def test_the_generator_is_deterministic(coco_scale, tmp_path):
    _generator().generate(tmp_path, n_train=600, n_val=40, seed=3)
    for rel in ("annotations/instances_train2017.json", "annotations/instances_val2017.json"):
        assert (tmp_path / rel).read_bytes() == (coco_scale / rel).read_bytes()
    names = sorted(p.name for p in (coco_scale / "train2017").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "train2017").iterdir())
    assert all((tmp_path / "train2017" / n).read_bytes() == (coco_scale / "train2017" / n).read_bytes() for n in names)


def test_the_generated_set_reads_as_coco2017(coco_scale):
    ds = load_dataset(f"coco2017:{coco_scale}")
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 600, "test": 40}
    assert ds.categories[0] == "person" and ds.num_classes == 80
    assert ds.report.dropped_zero_size == 0 and ds.report.clipped == 0


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Any decode of image pixels (PIL's load, which convert, resize and numpy conversion go through) fails."""
    from PIL import Image, ImageFile

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"pixels of {getattr(self, 'filename', 'an image')} were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)


def test_checking_loading_fingerprinting_and_selecting_never_decode_pixels(coco_scale, no_pixel_decoding, tmp_path):
    from dcbench.api import CondenseContext
    from dcbench.cli.app import main
    from dcbench.methods.random import RandomSelection
    from dcbench.protocols import get_protocol

    spec = f"coco:{coco_scale / 'annotations' / 'instances_train2017.json'}"
    assert main(["data", "check", spec, "--json", "--no-decode"]) == 0  # annotations and headers only
    ds = load_dataset(spec)
    assert len(ds.fingerprint()) == 16
    context = CondenseContext(None, 0, tmp_path, get_protocol("smoke"), "cpu")
    condensed = RandomSelection().condense(ds, 6, context=context)  # files copied, not re-encoded
    assert len(condensed) == 6


def test_reading_a_coco_file_resolves_paths_a_fixed_number_of_times(coco_scale, monkeypatch):
    # resolving every image's path (an lstat per path component) was a third of the time to read COCO's 118k
    # images; a plain file name needs one lstat to rule out a symlink escape
    calls = []
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    ds = read_coco(coco_scale / "annotations" / "instances_train2017.json")
    assert len(ds) == 600 and len(calls) < 10, f"{len(calls)} realpath calls for {len(ds)} images"


@pytest.mark.slow
def test_reading_a_coco_file_does_not_hold_its_masks(coco_scale, tmp_path):
    # masks are most of COCO's JSON; held while the records were built they took the check of 118k images to 2.9 GB
    # of memory (1.0 GB without). What the reader holds beyond the file's text must not grow with the masks.
    import tracemalloc

    _generator().generate(tmp_path, n_train=600, n_val=40, seed=3, masks=False)
    peaks, sizes, prints = [], [], []
    for root in (coco_scale, tmp_path):
        ann = root / "annotations" / "instances_train2017.json"
        tracemalloc.start()
        ds = read_coco(ann, name="same")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        sizes.append(ann.stat().st_size)
        prints.append(ds.fingerprint())
    assert prints[0] == prints[1]  # the same boxes either way: masks are not read
    assert sizes[0] > 3 * sizes[1]
    assert peaks[0] - peaks[1] < 2 * (sizes[0] - sizes[1]), "the parsed masks were held"


def test_symlinks_that_leave_the_image_folder_are_still_rejected(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    (images / "inside.png").write_bytes(b"x")
    (images / "escape.png").symlink_to(outside)
    (images / "alias.png").symlink_to(images / "inside.png")
    (images / "sub" / "escape.png").symlink_to(outside)
    (tmp_path / "linked").symlink_to(images)
    assert safe_join(images, "inside.png", where="t") == images / "inside.png"
    assert safe_join(images, "alias.png", where="t") == images / "alias.png"  # a link that stays inside is fine
    assert safe_join(tmp_path / "linked", "inside.png", where="t") == tmp_path / "linked" / "inside.png"
    for name in ("escape.png", "sub/escape.png"):
        with pytest.raises(DatasetError, match="symlink escape"):
            safe_join(images, name, where="t")
    with pytest.raises(DatasetError, match="path traversal"):
        safe_join(images, "../secret.png", where="t")
