"""Images as viewers see them (EXIF orientation), every image decoded before training, the bad-image policy, and
what a result says about the classes its student never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dcbench.cli.app import main
from tests.conftest import smoke_run, write_voc_xml

RED_BOX = (5, 10, 25, 30)  # x1, y1, x2, y2 on the displayed 40 x 64 portrait image


def _portrait_jpeg(path: Path) -> Path:
    """A phone-style photo: 64 x 40 stored pixels with EXIF orientation 6, displayed as 40 wide x 64 tall, with a
    red box at RED_BOX in the displayed frame."""
    from PIL import Image

    shown = np.zeros((64, 40, 3), np.uint8)
    x1, y1, x2, y2 = RED_BOX
    shown[y1:y2, x1:x2] = (255, 0, 0)
    stored = Image.fromarray(shown).transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, quality=95, exif=exif)
    return path


def _is_red(rgb) -> bool:
    r, g, b = (int(v) for v in rgb)
    return r > 200 and g < 60 and b < 60


@pytest.fixture
def portrait_voc(tmp_path):
    root = tmp_path / "voc"
    _portrait_jpeg(root / "JPEGImages" / "p.jpg")
    write_voc_xml(
        root / "Annotations" / "p.xml", "p.jpg", [("cat", RED_BOX[0] + 1, RED_BOX[1] + 1, *RED_BOX[2:])], 40, 64
    )
    return root


def test_an_orientation_6_photo_has_its_box_on_the_same_pixels_in_every_path(portrait_voc, tmp_path):
    from ultralytics.utils.patches import imread  # how Ultralytics reads a training image

    from dcbench.cli.show_cmd import contact_sheet
    from dcbench.data.spec import load_dataset
    from dcbench.data.verify import check_images
    from dcbench.data.writers import write_yolo
    from dcbench.detectors.torchvision_det import _image_tensor
    from dcbench.io import letterbox

    ds = load_dataset(f"voc:{portrait_voc}")
    im = ds.images[0]
    assert (im.width, im.height) == (40, 64)
    assert not check_images(ds).bad  # the XML's size is the displayed one: no mismatch
    cx, cy = (RED_BOX[0] + RED_BOX[2]) // 2, (RED_BOX[1] + RED_BOX[3]) // 2
    x1, y1, x2, y2 = im.boxes[0]
    assert x1 <= cx <= x2 and y1 <= cy <= y2
    # DCOD's and the feature methods' sources: the letterboxed canvas with the boxes mapped onto it
    canvas, placement = letterbox(im.file, 128)
    bx1, by1, bx2, by2 = placement.boxes_to_canvas(im.boxes)[0]
    assert _is_red(canvas[int((by1 + by2) / 2), int((bx1 + bx2) / 2)])
    # the torchvision R-CNN loader's tensor (the Detectron2 loader reads through the same function)
    tensor = _image_tensor(im.file)
    assert tuple(tensor.shape) == (3, 64, 40) and _is_red((tensor[:, cy, cx] * 255).numpy())
    # show's contact sheet
    sheet = np.asarray(contact_sheet(ds, columns=1, tile=128))  # the long side (64) drawn at 128: twice the size
    assert _is_red(sheet[cy * 2, cx * 2])
    # the YOLO labels the student trains on, read back on the pixels Ultralytics loads
    write_yolo(ds, tmp_path / "yolo")
    label = next((tmp_path / "yolo" / "labels" / "train").glob("*.txt")).read_text().split()
    pixels = imread(str(next((tmp_path / "yolo" / "images" / "train").glob("*.jpg"))))  # BGR
    h, w = pixels.shape[:2]
    assert (w, h) == (40, 64)
    b, g, r = pixels[int(float(label[2]) * h), int(float(label[1]) * w)]
    assert _is_red((r, g, b))


def test_the_yolo_reader_takes_the_displayed_size(tmp_path):
    from dcbench.data.spec import load_dataset

    root = tmp_path / "yolo"
    _portrait_jpeg(root / "images" / "p.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "p.txt").write_text("0 0.375 0.3125 0.5 0.3125\n")  # RED_BOX, normalised by 40 x 64
    (root / "classes.txt").write_text("cat\n")
    im = load_dataset(f"yolo:{root}").images[0]
    assert (im.width, im.height) == (40, 64)
    np.testing.assert_allclose(im.boxes[0], RED_BOX, atol=1e-4)


def test_an_annotation_with_the_stored_pixels_size_is_an_error_that_names_the_exif_orientation(tmp_path, capsys):
    root = tmp_path / "voc"
    _portrait_jpeg(root / "JPEGImages" / "p.jpg")
    write_voc_xml(root / "Annotations" / "p.xml", "p.jpg", [("cat", 2, 2, 20, 20)], 64, 40)  # the unturned size
    assert main(["data", "check", f"voc:{root}"]) == 2
    err = capsys.readouterr().err
    assert "p.jpg" in err and "EXIF orientation 6" in err


def _voc_with_jpegs(root: Path, n: int = 14) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(n):
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "JPEGImages" / f"i{k:02d}.jpg", quality=90)
        write_voc_xml(
            root / "Annotations" / f"i{k:02d}.xml", f"i{k:02d}.jpg", [("cat" if k % 2 else "dog", 5, 5, 30, 30)]
        )
    return root


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def voc_one_truncated(tmp_path):
    root = _voc_with_jpegs(tmp_path / "voc")
    return root, _truncate(root / "JPEGImages" / "i03.jpg")


def test_data_check_decodes_every_image_and_names_the_truncated_one(voc_one_truncated, capsys):
    root, bad = voc_one_truncated
    assert main(["data", "check", f"voc:{root}", "--json"]) == 2
    captured = capsys.readouterr()
    assert bad.name in captured.err and "truncated" in captured.err
    summary = json.loads(captured.out)
    assert [b["file"] for b in summary["image_check"]["bad"]] == [str(bad)]


def test_run_stops_before_any_training_and_names_the_bad_file(voc_one_truncated, tmp_path, capsys, monkeypatch):
    from dcbench.detectors.ultralytics import UltralyticsDetector

    root, bad = voc_one_truncated

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the images were checked")

    monkeypatch.setattr(UltralyticsDetector, "train", no_training)
    out = tmp_path / "runs"
    assert main(smoke_run(out, dataset=f"voc:{root}", ratio="0.2")) == 2
    err = capsys.readouterr().err
    assert bad.name in err and "--skip-bad-images" in err and "Traceback" not in err
    assert not list(out.rglob("result.json"))


@pytest.mark.slow
def test_run_with_skip_completes_and_its_result_lists_the_file(voc_one_truncated, tmp_path):
    root, bad = voc_one_truncated
    out = tmp_path / "runs"
    assert main(smoke_run(out, dataset=f"voc:{root}", ratio="0.2", extra=("--skip-bad-images",))) == 0
    (result_file,) = out.rglob("result.json")
    assert "skip-bad-images" in result_file.parent.name  # another dataset: named apart from the whole one
    record = json.loads(result_file.read_text())
    images = record["data"]["images"]
    assert images["policy"] == "skip" and [s["file"] for s in images["skipped"]] == [str(bad)]
    assert record["config"]["skip_bad_images"] is True
    assert record["data"]["train"] + record["data"]["test"] == 13
    assert any("bad image" in w for w in record["warnings"])


def test_a_second_check_of_an_unchanged_dataset_decodes_nothing_and_a_changed_file_is_decoded_again(tmp_path):
    from PIL import Image

    from dcbench.data.spec import load_dataset
    from dcbench.data.verify import check_images

    root = _voc_with_jpegs(tmp_path / "voc", n=6)
    ds = load_dataset(f"voc:{root}")
    first = check_images(ds)
    assert (first.checked, first.decoded, first.bad) == (6, 6, [])
    assert check_images(ds).decoded == 0
    changed = root / "JPEGImages" / "i02.jpg"
    Image.new("RGB", (64, 48), (9, 9, 9)).save(changed, quality=50)  # same size on the page, other bytes
    again = check_images(load_dataset(f"voc:{root}"))
    assert again.decoded >= 1 and not again.bad


def test_an_xml_size_that_disagrees_with_the_image_stops_run_and_says_by_how_much(tmp_path, capsys):
    root = _voc_with_jpegs(tmp_path / "voc", n=8)
    write_voc_xml(root / "Annotations" / "i05.xml", "i05.jpg", [("cat", 5, 5, 30, 30)], width=640, height=480)
    assert main(smoke_run(tmp_path / "runs", dataset=f"voc:{root}", ratio="0.25")) == 2
    err = capsys.readouterr().err
    assert "i05.jpg" in err and "annotated size 640x480" in err and "-576 x -432" in err


@pytest.mark.slow
def test_a_result_names_the_test_classes_its_student_saw_no_box_of_and_per_class_ap(tmp_path):
    from PIL import Image

    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = {"a": "cat", "b": "cat", "c": "cat", "d": "dog", "t1": "cat", "t2": "dog", "t3": "bird"}
    for stem, cls in names.items():
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{stem}.png")
        write_voc_xml(root / "Annotations" / f"{stem}.xml", f"{stem}.png", [(cls, 5, 5, 30, 30)])
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nb\nc\nd\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("t1\nt2\nt3\n")
    out = tmp_path / "runs"
    assert main(smoke_run(out, dataset=f"voc:{root}", ratio="0.25")) == 0
    record = json.loads(next(out.rglob("result.json")).read_text())
    classes = record["classes"]
    assert classes["test_classes"] == 3
    assert classes["without_box_in_train_split"] == ["bird"]
    # one image of four: a cat or the dog; the other and the bird are missing from the set
    assert "bird" in classes["without_box_in_set"] and len(classes["without_box_in_set"]) == 2
    assert any("test classes have no box in the set" in w for w in record["warnings"])
    assert set(record["metrics"]["per_class_AP"]) == {"bird", "cat", "dog"}


class _ReturnsAList:
    """A method whose condense() returns the chosen records instead of a written set."""

    name = "returns-a-list"

    def describe(self):
        return {}

    def condense(self, train, budget, *, context):
        return list(train.images[:budget])


class _Exits(_ReturnsAList):
    name = "exits"

    def condense(self, train, budget, *, context):
        raise SystemExit(0)


@pytest.mark.parametrize(
    "method, said",
    [(_ReturnsAList, "condense() returned list, not a CondensedSet"), (_Exits, "condense() called sys.exit(0)")],
    ids=["wrong type", "sys.exit"],
)
def test_a_condense_that_misbehaves_is_one_line_and_leaves_no_completion_marker(method, said, tmp_path, capsys):
    from dcbench.plugins import hookimpl, manager
    from tests.conftest import TINY_SHAPES

    class Plugin:
        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add(method.name, method, "misbehaves")

    out = tmp_path / "runs"
    with manager.registered(Plugin()):
        assert main(smoke_run(out, method=method.name, dataset=TINY_SHAPES)) == 2
    err = capsys.readouterr().err
    assert f"method {method.name!r}" in err and said in err and "Traceback" not in err
    assert not list(out.rglob("condense.json")) and not list(out.rglob("result.json"))


def test_a_set_interrupted_while_it_is_written_leaves_no_partial_folder(tmp_path):
    from dcbench.api import write_condensed
    from dcbench.data.spec import load_dataset

    ds = load_dataset(f"voc:{_voc_with_jpegs(tmp_path / 'voc', n=3)}")

    def interrupted(k, path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_condensed(ds, tmp_path / "set", {"method": "test"}, image_writer=interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voc"]


def test_a_photo_with_a_block_appended_after_its_end_marker_is_whole_and_truncation_is_caught_either_way(
    tmp_path, monkeypatch
):
    from PIL import ImageFile

    from dcbench.data.images import decode_check

    root = _voc_with_jpegs(tmp_path / "voc", n=2)
    whole, cut = root / "JPEGImages" / "i00.jpg", _truncate(root / "JPEGImages" / "i01.jpg")
    whole.write_bytes(whole.read_bytes() + b"SEFH" + bytes(20000))  # as some phones append
    assert decode_check(whole).ok and not decode_check(cut).ok
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as a library may set it for everyone
    assert decode_check(whole).ok and "truncated" in (decode_check(cut).problem or "")


def _spec(tmp_path: Path, root: Path, skip: bool | None = None) -> Path:
    skip_line = "" if skip is None else f"skip_bad_images = {str(skip).lower()}\n"
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'name = "t"\nprotocol = "smoke"\ndatasets = ["voc:{root}"]\ndetectors = ["yolov3-tiny"]\n'
        f'ratios = [0.2]\nseeds = [0]\n{skip_line}\n[[methods]]\nname = "random"\n'
    )
    return spec


def test_the_matrix_checks_every_image_before_its_first_cell(voc_one_truncated, tmp_path, capsys):
    root, bad = voc_one_truncated
    out = tmp_path / "out"
    assert main(["matrix", str(_spec(tmp_path, root)), "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert bad.name in err and "--skip-bad-images" in err and "Traceback" not in err
    assert not list(out.rglob("result.json")) and not list(out.rglob("failed.json"))


@pytest.mark.slow
def test_a_matrix_that_skips_bad_images_finishes_and_its_cells_stay_done(voc_one_truncated, tmp_path, capsys):
    root, bad = voc_one_truncated
    out = tmp_path / "out"
    spec = _spec(tmp_path, root, skip=True)
    assert main(["matrix", str(spec), "--out", str(out), "--device", "cpu"]) == 0
    (result,) = out.rglob("result.json")
    assert [s["file"] for s in json.loads(result.read_text())["data"]["images"]["skipped"]] == [str(bad)]
    capsys.readouterr()
    assert main(["matrix", str(spec), "--out", str(out), "--dry-run"]) == 0
    assert "1 done" in capsys.readouterr().out  # its fingerprints are those of the dataset without the bad file


def test_data_check_then_run_decodes_each_image_once(tmp_path):
    """The whole dataset (data check), then its train and test splits (run): one cache per source, shared."""
    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.data.verify import check_images

    root = _voc_with_jpegs(tmp_path / "voc", n=10)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("".join(f"i{k:02d}\n" for k in range(7)))
    (root / "ImageSets" / "Main" / "test.txt").write_text("".join(f"i{k:02d}\n" for k in range(7, 10)))
    assert check_images(load_dataset(f"voc:{root}")).decoded == 10
    split = resolve_train_test(load_dataset(f"voc:{root}"))
    assert (check_images(split.train).decoded, check_images(split.test).decoded) == (0, 0)
