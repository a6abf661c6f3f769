"""The real datasets beside the repository load with the counts their SOURCE.md gives."""

import pytest

from dcbench.cli.app import main
from dcbench.data.spec import load_dataset
from tests.conftest import shared

pytestmark = pytest.mark.realdata


@pytest.mark.slow
def test_bccd_drops_the_two_zero_size_boxes(capsys):
    root = shared("bccd") / "BCCD"
    ds = load_dataset(f"voc:{root}")
    assert (len(ds), ds.num_classes) == (364, 3)
    assert ds.report.dropped_zero_size == 2 and ds.n_boxes == 4888 - 2
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 205, "val": 87, "trainval": 292, "test": 72}
    assert main(["data", "check", f"voc:{root}", "--json"]) == 0
    out = capsys.readouterr()
    assert '"images": 364' in out.out and '"dropped_zero_size": 2' in out.out
    assert "BloodImage_00338.xml" in out.err and "BloodImage_00343.xml" in out.err


def test_voc2012_sample100():
    ds = load_dataset(f"voc:{shared('voc2012_sample100')}")
    assert (len(ds), ds.num_classes, ds.n_boxes) == (100, 20, 273)
    assert sum(int(im.ignore.sum()) for im in ds.images) == 38  # difficult
    assert ds.class_counts()["person"] == 91


def test_coco128_yolo_folder_and_json_agree():
    root = shared("coco128")
    yolo = load_dataset(f"yolo:{root}")
    coco = load_dataset(f"coco:{root / 'annotations' / 'instances_train2017.json'}")
    assert (len(yolo), yolo.num_classes, yolo.n_boxes) == (128, 80, 929)
    assert (len(coco), coco.num_classes, coco.n_boxes) == (128, 80, 939)
    assert sum(int(im.ignore.sum()) for im in coco.images) == 10  # iscrowd
    assert sum(1 for im in yolo.images if im.n_boxes == 0) == 2
    assert yolo.categories == coco.categories
