"""The Ultralytics backend on tiny generated data at a small image size."""

import numpy as np
import pytest

pytest.importorskip("ultralytics")

from dcbench.data.shapes import ShapesConfig, shapes_dataset  # noqa: E402
from dcbench.detectors.ultralytics import YOLOv3Tiny  # noqa: E402
from dcbench.protocols import get_protocol  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return shapes_dataset(ShapesConfig(n_train=16, n_test=6, size=64, max_extent=28))


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    backend = YOLOv3Tiny()
    protocol = get_protocol("smoke")
    ckpt = backend.train(
        tiny.split("train"), protocol=protocol, seed=0, workdir=tmp_path_factory.mktemp("t"), device="cpu"
    )
    return backend, protocol, ckpt


@pytest.mark.slow
def test_train_writes_one_checkpoint_and_predict_covers_every_image(tiny, trained):
    backend, protocol, ckpt = trained
    assert ckpt.path.is_file() and ckpt.meta["epochs"] == 1
    assert not (ckpt.path.parent / "ultralytics").exists()  # no duplicate weight files left behind
    test = tiny.split("test")
    dets = backend.predict(ckpt, test, protocol=protocol, device="cpu")
    assert len(dets) == len(test)
    for d, im in zip(dets, test.images):
        assert d.boxes.shape[1] == 4
        if len(d):
            assert d.boxes[:, 2].max() <= im.width + 1 and d.labels.max() < tiny.num_classes


def test_features_are_one_row_per_image(tiny, trained):
    backend, protocol, ckpt = trained
    f = backend.features(ckpt, tiny.split("test"), protocol=protocol, device="cpu")
    assert f.shape[0] == 6 and f.ndim == 2 and f.shape[1] >= 64 and np.isfinite(f).all()
    assert not np.allclose(f[0], f[1])


def test_inversion_loss_gradient_reaches_the_image(trained):
    import torch

    backend, protocol, ckpt = trained
    target = backend.inversion_target(ckpt, protocol=protocol, device="cpu")
    assert not target.module.training
    assert all(not p.requires_grad for p in target.module.parameters())
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    targets = [
        (torch.tensor([[8.0, 8.0, 30.0, 30.0]]), torch.tensor([1])),
        (torch.tensor([[20.0, 10.0, 50.0, 40.0], [2.0, 2.0, 12.0, 12.0]]), torch.tensor([0, 5])),
    ]
    loss = target.loss(images, targets)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    # the loss depends on where the boxes are: moving them changes it
    moved = [(t[0] + 5, t[1]) for t in targets]
    assert not torch.isclose(target.loss(images.detach(), moved), loss.detach())


def test_any_ultralytics_config_by_name_and_no_weight_files():
    from dcbench.errors import ConfigError
    from dcbench.harness.identity import make_detector

    assert make_detector("ultralytics:yolov8n.yaml").config == "yolov8n.yaml"
    assert make_detector("yolov3-spp").config == "yolov3-spp.yaml"
    with pytest.raises(ConfigError, match="downloaded"):
        make_detector("ultralytics:yolov8n.pt")


def test_ultralytics_stays_offline_and_out_of_home(tmp_path):
    import os

    from dcbench.detectors.ultralytics import _prepare

    _prepare()
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    from ultralytics.utils import SETTINGS

    assert SETTINGS["sync"] is False
    assert (
        "dcbench" in os.environ["YOLO_CONFIG_DIR"]
        or os.environ.get("DCBENCH_CACHE", "") in os.environ["YOLO_CONFIG_DIR"]
    )


@pytest.mark.slow
def test_nominal_batch_is_ultralytics_nbs_and_the_default_keeps_old_ids(tiny, trained, tmp_path):
    """64 (Ultralytics' own) leaves protocol ids and checkpoint meta as they were; another value reaches nbs."""
    import yaml

    backend, protocol, ckpt = trained
    assert yaml.safe_load((ckpt.path.parent / "ultralytics-args.yaml").read_text())["nbs"] == 64
    assert "nominal_batch" not in ckpt.meta and protocol.with_overrides(nominal_batch=64) is protocol
    one_per_batch = protocol.with_overrides(nominal_batch=protocol.batch)
    assert one_per_batch.protocol_id != protocol.protocol_id
    other = backend.train(tiny.split("train"), protocol=one_per_batch, seed=0, workdir=tmp_path, device="cpu")
    assert yaml.safe_load((tmp_path / "ultralytics-args.yaml").read_text())["nbs"] == protocol.batch
    assert other.meta["nominal_batch"] == protocol.batch
