"""The R-CNN backends' training input: the seeded sampler, the DataLoader against in-step decoding, determinism."""

import functools
import pickle

import pytest
import torch

from dcbench.data.shapes import ShapesConfig, shapes_dataset
from dcbench.detectors import detectron2_det, torchvision_det
from dcbench.detectors.rcnn_loader import EpochBatches, resolve_workers, training_batches
from dcbench.errors import ConfigError
from dcbench.protocols import get_protocol


@pytest.fixture(scope="module")
def train_split():
    return shapes_dataset(ShapesConfig(n_train=10, n_test=1, size=64, max_extent=28)).split("train")


def _old_draws(n, batch, epochs, seed):
    """What train_from_scratch drew before the DataLoader: per epoch a permutation, then per batch one flip draw per
    image, all from one generator, the draws happening inside the training step."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).tolist()
        for start in range(0, n, batch):
            out.append([(i, torch.rand((), generator=gen).item() < 0.5) for i in order[start : start + batch]])
    return out


def test_sampler_draws_the_order_and_flips_the_in_step_path_drew():
    sampler = EpochBatches(10, 4, 3, seed=7)
    assert len(sampler) == 9 and sampler.steps_per_epoch == 3
    assert list(sampler) == _old_draws(10, 4, 3, 7)
    assert list(sampler) == list(sampler)  # iterating again starts again from the seed
    assert list(EpochBatches(10, 4, 3, seed=8)) != list(sampler)


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize(
    "prepare",
    [torchvision_det.train_sample, functools.partial(detectron2_det.train_sample, imgsz=96)],
    ids=["torchvision", "detectron2"],
)
@pytest.mark.parametrize("workers", [0, 2])
def test_the_loader_yields_what_in_step_decoding_gives(train_split, prepare, workers):
    pickle.dumps(prepare)  # what spawned workers need
    sampler = EpochBatches(len(train_split), 4, 2, seed=3)
    in_step = list(training_batches(train_split.images, prepare, sampler, workers=None, seed=3, device="cpu"))
    loaded = list(training_batches(train_split.images, prepare, sampler, workers=workers, seed=3, device="cpu"))
    assert len(in_step) == len(loaded) == 6 and [len(b) for b in loaded] == [4, 4, 2] * 2
    assert _same(in_step, loaded)


def test_torchvision_sample_is_the_decoded_image_and_its_boxes_flipped(train_split):
    rec = next(r for r in train_split.images if len(r.boxes))
    x, t = torchvision_det.train_sample(rec, False)
    xf, tf = torchvision_det.train_sample(rec, True)
    assert torch.equal(x, torchvision_det._image_tensor(rec.file)) and torch.equal(xf, x.flip(-1))
    assert torch.equal(t["boxes"], torch.from_numpy(rec.boxes)) and torch.equal(t["labels"], tf["labels"])
    assert torch.equal(tf["boxes"][:, [2, 0]], rec.width - t["boxes"][:, [0, 2]])
    assert torch.equal(t["labels"], torch.from_numpy(rec.labels) + 1)  # torchvision's background is 0


def test_detectron2_sample_is_resized_bgr_with_scaled_boxes(train_split):
    rec = next(r for r in train_split.images if len(r.boxes))
    s = detectron2_det.train_sample(rec, False, imgsz=96)
    sf = detectron2_det.train_sample(rec, True, imgsz=96)
    assert max(s["image"].shape[-2:]) == 96 and (s["height"], s["width"]) == (rec.height, rec.width)
    assert torch.allclose(s["boxes"], torch.from_numpy(rec.boxes) * 96 / max(rec.width, rec.height))
    assert torch.equal(sf["image"], s["image"].flip(-1))
    assert torch.equal(sf["boxes"][:, [2, 0]], s["image"].shape[-1] - s["boxes"][:, [0, 2]])


def _train(split, tmp_path, workers, name):
    backend = torchvision_det.TorchvisionDetector("fasterrcnn_mobilenet_v3_large_320_fpn")
    backend.loader_workers = workers
    protocol = get_protocol("smoke").with_overrides(batch=4, epochs=2, min_iterations=2)
    ckpt = backend.train(split, protocol=protocol, seed=5, workdir=tmp_path / name, device="cpu")
    assert ckpt.meta["iterations"] == 6 and ckpt.meta["epochs"] == 2
    return torch.load(ckpt.path, weights_only=False)["model"]


@pytest.mark.slow
def test_training_is_deterministic_per_seed_whatever_the_workers(train_split, tmp_path):
    a = _train(train_split, tmp_path, 1, "a")
    b = _train(train_split, tmp_path, 1, "b")
    in_step = _train(train_split, tmp_path, None, "step")
    assert a.keys() == b.keys() == in_step.keys()
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], in_step[k]) for k in a)


def test_worker_count_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv("DCBENCH_LOADER_WORKERS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert resolve_workers("auto", "cpu") == 0
    assert resolve_workers("auto", "cuda:0") == 4
    assert resolve_workers(None, "cuda") is None and resolve_workers(2, "cpu") == 2
    monkeypatch.setenv("DCBENCH_LOADER_WORKERS", "3")
    assert resolve_workers("auto", "cpu") == 3 and resolve_workers(1, "cpu") == 1  # an explicit count wins
    monkeypatch.setenv("DCBENCH_LOADER_WORKERS", "step")
    assert resolve_workers("auto", "cuda") is None
    for bad in ("-1", "two"):
        monkeypatch.setenv("DCBENCH_LOADER_WORKERS", bad)
        with pytest.raises(ConfigError, match="DCBENCH_LOADER_WORKERS"):
            resolve_workers("auto", "cpu")
    with pytest.raises(ConfigError, match="non-negative"):
        resolve_workers(-2, "cpu")
