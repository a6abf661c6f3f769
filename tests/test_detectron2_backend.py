"""The Detectron2 backend on tiny data: train, predict, features, and the inversion loss's gradient."""

import pytest
import torch

pytest.importorskip("detectron2", reason="detectron2 is not installed (python scripts/install_detectron2.py)")

from dcbench.data.shapes import ShapesConfig, shapes_dataset  # noqa: E402
from dcbench.detectors.detectron2_det import Detectron2Detector  # noqa: E402
from dcbench.protocols import get_protocol  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ds = shapes_dataset(ShapesConfig(n_train=8, n_test=3, size=64, max_extent=28))
    backend = Detectron2Detector()
    protocol = get_protocol("smoke")
    ckpt = backend.train(
        ds.split("train"), protocol=protocol, seed=0, workdir=tmp_path_factory.mktemp("d2"), device="cpu"
    )
    return ds, backend, protocol, ckpt


@pytest.mark.slow
def test_train_predict_features(trained):
    ds, backend, protocol, ckpt = trained
    assert ckpt.meta["iterations"] == 1 and ckpt.path.is_file()
    test = ds.split("test")
    dets = backend.predict(ckpt, test, protocol=protocol, device="cpu")
    assert len(dets) == len(test)
    for d, im in zip(dets, test.images):
        if len(d):
            assert d.boxes[:, 2].max() <= im.width + 1 and d.labels.max() < ds.num_classes
    f = backend.features(ckpt, test, protocol=protocol, device="cpu")
    assert f.shape[0] == len(test) and f.shape[1] == 256


@pytest.mark.slow
def test_inversion_loss_gradient_reaches_the_image(trained):
    _, backend, protocol, ckpt = trained
    target = backend.inversion_target(ckpt, protocol=protocol, device="cpu")
    bn = next(m for m in target.module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    before = bn.running_var.clone()
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    targets = [
        (torch.tensor([[5.0, 5.0, 30.0, 30.0]]), torch.tensor([1])),
        (torch.tensor([[10.0, 20.0, 50.0, 60.0]]), torch.tensor([4])),
    ]
    loss = target.loss(images, targets)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert torch.equal(bn.running_var, before) and not target.module.training


@pytest.mark.slow
def test_random_smoke_with_the_faster_rcnn_alias(tmp_path):
    import json

    from dcbench.cli.app import main

    assert (
        main(
            [
                "run",
                "--method",
                "random",
                "--detector",
                "faster-rcnn",
                "--ratio",
                "0.1",
                "--protocol",
                "smoke",
                "--dataset",
                "shapes:?n_train=30&n_test=6&size=64&max_extent=28",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    (f,) = tmp_path.rglob("result.json")
    result = json.loads(f.read_text())
    assert result["detector"] == "detectron2:faster_rcnn_R_50_FPN" and result["environment"]["detectron2"] == "0.7.2"
