"""The classic (archive-era, anchor-based) YOLOv3 backends against their spec (yolov3-classic.md, section 7):
parameter counts, output shapes, anchor matching, the loss, NMS, and train -> predict -> features -> inversion."""

import math

import numpy as np
import pytest
import torch

from dcbench.detectors.yolo_classic.backend import ClassicYOLOv3, ClassicYOLOv3SPP, ClassicYOLOv3Tiny
from dcbench.detectors.yolo_classic.loss import build_targets, compute_loss, normalised_targets
from dcbench.detectors.yolo_classic.model import ANCHORS, MASKS, build
from dcbench.detectors.yolo_classic.postprocess import non_max_suppression
from dcbench.errors import ConfigError
from dcbench.protocols import get_protocol

NAMES = ("yolov3-spp-classic", "yolov3-classic", "yolov3-tiny-classic")


def _meta_model(arch: str, nc: int = 80):
    """Built on the meta device: shapes and counts without allocating or computing 60 M weights."""
    with torch.device("meta"):
        return build(arch, nc)


@pytest.mark.parametrize(
    "arch, nc, params, tensors",
    [
        ("yolov3-spp", 80, 62_998_749, 225),
        ("yolov3", 80, 61_949_149, 222),
        ("yolov3-tiny", 80, 8_852_366, 37),
        ("yolov3-spp", 20, 62_675_649, 225),
        ("yolov3", 20, 61_626_049, 222),
        ("yolov3-tiny", 20, 8_713_766, 37),
    ],
)
def test_parameter_counts_match_the_spec(arch, nc, params, tensors):
    model = _meta_model(arch, nc)
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(list(model.parameters())) == tensors


@pytest.mark.parametrize("arch", ["yolov3-spp", "yolov3", "yolov3-tiny"])
@pytest.mark.parametrize("size, rows, tiny_rows", [(416, 10647, 2535), (512, 16128, 3840), (320, 6300, 1500)])
def test_output_shapes_strides_32_16_8(arch, size, rows, tiny_rows):
    model = _meta_model(arch).eval()
    decoded, raws = model(torch.zeros(1, 3, size, size, device="meta"))
    strides = (32, 16) if arch == "yolov3-tiny" else (32, 16, 8)
    assert [tuple(r.shape) for r in raws] == [(1, 3, size // s, size // s, 85) for s in strides]
    assert tuple(decoded.shape) == (1, tiny_rows if arch == "yolov3-tiny" else rows, 85)
    assert isinstance(model.train()(torch.zeros(1, 3, size, size, device="meta")), list)  # train mode: raw only


def test_a_real_tiny_forward_at_416_starts_from_the_init_biases():
    torch.manual_seed(0)
    model = build("yolov3-tiny", 80).eval()
    with torch.no_grad():
        decoded, raws = model(torch.rand(1, 3, 416, 416))
    assert decoded.shape == (1, 2535, 85) and torch.isfinite(decoded).all()
    assert decoded[..., 4].mean().item() == pytest.approx(1 / (1 + math.exp(4.5)), rel=0.2)  # ~0.011
    assert decoded[..., 5:].mean().item() == pytest.approx(0.0075, rel=0.2)
    # decoded centres lie in their cells: (sigmoid + cell) * stride
    assert (decoded[..., :2] >= 0).all() and (decoded[..., :2] <= 416).all()


def _positives(w: float, h: float, size: int = 416) -> dict[int, list[int]]:
    """Stride -> global anchor indices a w x h px box at the image centre is positive for."""
    heads = [(s, torch.tensor([ANCHORS[i] for i in m], dtype=torch.float32)) for m, s in zip(MASKS, (32, 16, 8))]
    raws = [torch.zeros(1, 3, size // s, size // s, 85) for s, _ in heads]
    targets = torch.tensor([[0, 0, 0.5, 0.5, w / size, h / size]])
    matches = build_targets(raws, targets, heads, iou_t=0.2)
    return {s: sorted(MASKS[k][a] for a in m.a.tolist()) for k, ((s, _), m) in enumerate(zip(heads, matches))}


@pytest.mark.parametrize(
    "wh, expected",
    [
        ((116, 90), {32: [6, 7], 16: [4, 5], 8: []}),
        ((30, 30), {32: [], 16: [3, 4], 8: [1, 2]}),
        ((10, 13), {32: [], 16: [], 8: [0, 1]}),
    ],
)
def test_anchor_matching_examples_of_the_spec(wh, expected):
    assert _positives(*wh) == expected


def test_a_match_sits_in_the_centre_cell_with_its_offset_and_grid_size():
    heads = [(32, torch.tensor([ANCHORS[i] for i in MASKS[0]], dtype=torch.float32))]
    targets = torch.tensor([[0, 2, 0.3, 0.7, 116 / 416, 90 / 416]])
    (m,) = build_targets([torch.zeros(1, 3, 13, 13, 85)], targets, heads, iou_t=0.2)
    assert m.gi.tolist() == [3, 3] and m.gj.tolist() == [9, 9] and m.cls.tolist() == [2, 2]
    assert torch.allclose(m.tbox[0], torch.tensor([0.3 * 13 - 3, 0.7 * 13 - 9, 116 / 32, 90 / 32]))


def test_the_loss_is_finite_reaches_the_pixels_and_falls_when_overfitting():
    torch.manual_seed(0)
    model = build("yolov3-tiny", 3).train()
    images = torch.rand(2, 3, 64, 64)
    targets = normalised_targets(
        [
            (torch.tensor([[8.0, 8.0, 40.0, 30.0]]), torch.tensor([1])),
            (torch.tensor([[20.0, 10.0, 60.0, 60.0], [0.0, 0.0, 10.0, 12.0]]), torch.tensor([0, 2])),
        ],
        64,
        64,
    )
    pixels = images.clone().requires_grad_(True)
    first, parts = compute_loss(model(pixels), targets, model.heads(), 3)
    first.backward()
    assert torch.isfinite(first) and set(parts) == {"box", "obj", "cls"} and all(v > 0 for v in parts.values())
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(30):
        loss, _ = compute_loss(model(images), targets, model.heads(), 3)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * losses[0], losses


def test_nms_keeps_classes_apart_and_filters_by_confidence_and_size():
    def row(x, y, w, h, obj, cls):
        return [x, y, w, h, obj, *cls]

    decoded = torch.tensor(
        [
            [
                row(50, 50, 20, 20, 0.9, [0.9, 0.8]),  # both classes: two candidates, neither suppresses the other
                row(51, 50, 20, 20, 0.8, [0.9, 0.0]),  # overlaps the first, same class 0, lower score: suppressed
                row(10, 10, 1.5, 8, 0.9, [0.9, 0.0]),  # narrower than 2 px: dropped
                row(90, 90, 10, 10, 0.0005, [1.0, 0.0]),  # objectness under conf: dropped
            ]
        ]
    )
    ((boxes, scores, labels),) = non_max_suppression(decoded)
    assert sorted(labels.tolist()) == [0, 1]
    assert torch.allclose(boxes[0], torch.tensor([40.0, 40.0, 60.0, 60.0]))
    assert scores.tolist() == pytest.approx([0.81, 0.72])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from dcbench.data.shapes import ShapesConfig, shapes_dataset

    ds = shapes_dataset(ShapesConfig(n_train=8, n_test=3, size=64, max_extent=28))
    backend, protocol = ClassicYOLOv3Tiny(), get_protocol("smoke")
    workdir = tmp_path_factory.mktemp("classic")
    ckpt = backend.train(ds.split("train"), protocol=protocol, seed=3, workdir=workdir, device="cpu")
    return ds, backend, protocol, ckpt


def test_train_predict_features_round_trip(trained, tmp_path):
    ds, backend, protocol, ckpt = trained
    assert ckpt.detector == "yolov3-tiny-classic" and ckpt.path.is_file()
    assert ckpt.meta["epochs"] == 1 and ckpt.meta["iterations"] == 1 and ckpt.meta["arch"] == "yolov3-tiny"
    state = torch.load(ckpt.path, weights_only=False)
    assert state["arch"] == "yolov3-tiny" and state["num_classes"] == ds.num_classes and state["imgsz"] == 64
    test = ds.split("test")
    dets = backend.predict(ckpt, test, protocol=protocol, device="cpu")
    assert len(dets) == len(test)
    for det, im in zip(dets, test.images):
        assert len(det) <= 100
        if len(det):
            assert det.boxes.min() >= 0 and (det.boxes[:, 2] <= im.width).all() and (det.boxes[:, 3] <= im.height).all()
            assert det.labels.min() >= 0 and det.labels.max() < ds.num_classes and det.scores.min() > 0.001
    feats = backend.features(ckpt, test, protocol=protocol, device="cpu")
    assert feats.shape == (len(test), 1024) and feats.dtype == np.float32 and np.isfinite(feats).all()
    again = backend.train(ds.split("train"), protocol=protocol, seed=3, workdir=tmp_path, device="cpu")
    other = torch.load(again.path, weights_only=False)["model"]
    assert all(torch.equal(v, other[k]) for k, v in state["model"].items()), "the same seed gave other weights"


def test_the_inversion_target_is_frozen_with_its_batchnorm_reachable(trained):
    ds, backend, protocol, ckpt = trained
    target = backend.inversion_target(ckpt, protocol=protocol, device="cpu")
    assert not target.module.training and not any(p.requires_grad for p in target.module.parameters())
    bns = [m for m in target.module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 11  # one per conv unit of the tiny network
    before = bns[0].running_mean.clone()
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    box = torch.tensor([[10.0, 12.0, 40.0, 50.0]])
    loss = target.loss(images, [(box, torch.tensor([1])), (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))])
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert torch.equal(bns[0].running_mean, before) and target.num_classes == ds.num_classes


def test_the_tiny_backend_passes_check_detector(tmp_path):
    from dcbench.testing import check_detector

    check_detector("yolov3-tiny-classic", tmp_path)


@pytest.mark.slow
def test_the_spp_backend_passes_check_detector(tmp_path):
    from dcbench.testing import check_detector

    check_detector("yolov3-spp-classic", tmp_path)


def test_dcbench_list_detectors_names_the_classic_models(capsys, monkeypatch):
    import json

    from dcbench.cli.app import main

    monkeypatch.setenv("COLUMNS", "200")  # the table's name column is never cut short
    assert main(["list", "detectors"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES), out
    assert main(["list", "detectors", "--format", "json"]) == 0
    listed = {d["name"]: d["description"] for d in json.loads(capsys.readouterr().out)}
    assert all(listed.get(name) for name in NAMES), listed


def test_no_argument_no_odd_size_no_distillation(tmp_path):
    with pytest.raises(ConfigError, match="takes no argument"):
        ClassicYOLOv3("something")
    with pytest.raises(ConfigError, match="multiple of 32"):
        odd = get_protocol("smoke").with_overrides(imgsz=100)
        ClassicYOLOv3SPP().train(None, protocol=odd, seed=0, workdir=tmp_path, device="cpu")
    assert not hasattr(ClassicYOLOv3Tiny, "distills")  # labels=distill is refused by the harness


def test_hsv_jitter_with_unit_gains_is_the_identity():
    from dcbench.detectors.yolo_classic.train import hsv_jitter

    images = torch.rand(2, 3, 8, 8)
    assert torch.allclose(hsv_jitter(images, torch.ones(2, 3)), images, atol=1e-5)
    turned = hsv_jitter(images, torch.tensor([[1.5, 1.0, 1.0], [1.0, 0.0, 1.0]]))
    assert torch.allclose(turned[1], images[1].max(0).values.expand(3, -1, -1), atol=1e-5)  # no saturation: grey at v
    assert torch.allclose(turned[0].max(0).values, images[0].max(0).values, atol=1e-5)  # a hue turn keeps v


@pytest.mark.slow
def test_step_flops_count_a_training_step_above_a_forge_step_and_scale_with_pixels():
    from dcbench.detectors.yolo_classic.backend import ClassicYOLOv3Tiny

    backend = ClassicYOLOv3Tiny()
    forge, train = backend.step_flops(512, 20)
    forge_small, _ = backend.step_flops(256, 20)
    # a training step also takes the weights' gradients; a forge step takes only the pixels'
    assert train > forge > 1e9
    assert forge == pytest.approx(4 * forge_small)


def _one_box_image(path, width: int, height: int, box: tuple[int, int, int, int], colour: tuple[int, int, int]):
    from PIL import Image

    from dcbench.data.model import ImageRecord

    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = colour
    Image.fromarray(pixels).save(path)
    return ImageRecord(
        path.stem, path, width, height, np.array([box], np.float32), np.array([0]), np.zeros(1, dtype=bool)
    )


def test_a_mosaics_boxes_lie_on_their_objects(tmp_path):
    from dcbench.detectors.yolo_classic.mosaic import mosaic

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    sizes = [(120, 80), (64, 128), (100, 100), (90, 60)]
    records = [
        _one_box_image(tmp_path / f"{i}.png", w, h, (w // 4, h // 4, 3 * w // 4, 3 * h // 4), colours[i])
        for i, (w, h) in enumerate(sizes)
    ]
    for centre in ((1.0, 1.0), (0.6, 1.4), (1.45, 0.55)):
        image, boxes, labels = mosaic(records, centre, 128)
        assert image.shape == (128, 128, 3) and len(boxes) == len(labels) >= 1
        for x1, y1, x2, y2 in boxes.round().astype(int):
            inside = image[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].reshape(-1, 3)
            # every pixel of a kept box is one object's colour: the boxes moved with their images
            assert len(inside) and (inside.max(1) > 200).all(), (centre, (x1, y1, x2, y2))


def test_mosaic_batches_keep_epochbatches_order_and_flips_and_repeat_for_a_seed():
    from dcbench.detectors.rcnn_loader import EpochBatches
    from dcbench.detectors.yolo_classic.mosaic import MosaicBatches

    plain, mosaic = list(EpochBatches(10, 4, 2, seed=3)), list(MosaicBatches(10, 4, 2, seed=3))
    assert [[k[:2] for k in b] for b in mosaic] == plain
    assert mosaic == list(MosaicBatches(10, 4, 2, seed=3))
    others = [k[2] for b in mosaic for k in b]
    assert all(len(o) == 3 and all(0 <= i < 10 for i in o) for o in others)
    assert all(0.5 <= c <= 1.5 for b in mosaic for k in b for c in k[3])
