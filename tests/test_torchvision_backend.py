"""The torchvision Faster R-CNN backend on tiny generated data: train, predict, features, inversion loss."""

import pytest
import torch

from dcbench.data.shapes import ShapesConfig, shapes_dataset
from dcbench.detectors.torchvision_det import TorchvisionDetector
from dcbench.errors import ConfigError
from dcbench.protocols import get_protocol


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = shapes_dataset(ShapesConfig(n_train=8, n_test=4, size=64, max_extent=28))
    backend = TorchvisionDetector("fasterrcnn_mobilenet_v3_large_320_fpn")
    protocol = get_protocol("smoke")
    ckpt = backend.train(
        ds.split("train"), protocol=protocol, seed=0, workdir=tmp_path_factory.mktemp("tv"), device="cpu"
    )
    return ds, backend, protocol, ckpt


@pytest.mark.slow
def test_train_predict_features(trained):
    ds, backend, protocol, ckpt = trained
    assert ckpt.path.is_file() and ckpt.meta["iterations"] == 1 and ckpt.meta["anchor_sizes"][0][0] == 4
    test = ds.split("test")
    dets = backend.predict(ckpt, test, protocol=protocol, device="cpu")
    assert len(dets) == len(test)
    assert all(len(d) == 0 or (d.labels.min() >= 0 and d.labels.max() < ds.num_classes) for d in dets)
    f = backend.features(ckpt, test, protocol=protocol, device="cpu")
    assert f.shape[0] == len(test) and f.ndim == 2


@pytest.mark.slow
def test_inversion_loss_reaches_the_image_with_frozen_batchnorm(trained):
    ds, backend, protocol, ckpt = trained
    target = backend.inversion_target(ckpt, protocol=protocol, device="cpu")
    bn = next(m for m in target.module.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    targets = [
        (torch.tensor([[5.0, 5.0, 30.0, 30.0]]), torch.tensor([1])),
        (torch.tensor([[10.0, 20.0, 50.0, 60.0]]), torch.tensor([4])),
    ]
    loss = target.loss(images, targets)
    loss.backward()
    assert torch.isfinite(loss) and images.grad is not None and images.grad.abs().sum() > 0
    assert torch.equal(bn.running_mean, before)  # running statistics untouched
    assert not target.module.training


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown torchvision detector"):
        TorchvisionDetector("maskrcnn_resnet50_fpn")


@pytest.mark.slow
def test_dcod_forges_with_a_faster_rcnn_teacher_and_yolo_evaluates(tmp_path):
    """DCOD is backend-agnostic: a torchvision teacher, a YOLO student (cross-architecture)."""
    pytest.importorskip("ultralytics")
    import json

    from dcbench.cli.app import main

    assert (
        main(
            [
                "run",
                "--method",
                "dcod",
                "--detector",
                "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn",
                "--eval-detector",
                "yolov3-tiny",
                "--ratio",
                "0.05",
                "--protocol",
                "smoke",
                "--dataset",
                "shapes:?n_train=40&n_test=8&size=64&max_extent=28",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    (result_file,) = tmp_path.rglob("result.json")
    result = json.loads(result_file.read_text())
    assert result["detector"] == "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"
    assert result["eval_detector"] == "ultralytics:yolov3-tiny.yaml" and "eval-" in result["cell"]
    assert result["condensed"]["manifest"]["teacher"]["detector"].startswith("torchvision:")
