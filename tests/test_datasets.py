import json
from pathlib import Path

import numpy as np
import pytest

from dcbench.data.coco import read_coco
from dcbench.data.spec import holdout_indices, load_dataset, resolve_train_test
from dcbench.data.voc import read_voc
from dcbench.data.writers import write_coco_json, write_yolo
from dcbench.data.yolo import read_yolo
from tests.conftest import write_png


def test_voc_reader_converts_coordinates_flags_difficult_and_reads_splits(tiny_voc):
    ds = read_voc(tiny_voc)
    assert ds.categories == ["cat", "dog"]
    assert len(ds) == 4 and ds.n_boxes == 4
    a = ds.images[0]
    assert a.id == "a"
    np.testing.assert_allclose(a.boxes[0], [4, 4, 30, 30])  # 1-based VOC -> 0-based edges
    assert a.ignore.tolist() == [False, True]
    assert {k: len(v) for k, v in ds.splits.items()} == {"trainval": 3, "test": 1}
    # the box touching the far corner (xmax=64 on a 64-wide image) is inside, not clipped
    assert ds.report.clipped == 0


def test_writers_round_trip_through_the_readers(tiny_voc, tmp_path):
    ds = read_voc(tiny_voc)
    names = [im.file.name for im in ds.images]
    coco = read_coco(write_coco_json(ds, tmp_path / "c.json", names), images=tiny_voc / "JPEGImages")
    assert coco.categories == ds.categories
    for x, y in zip(ds.images, coco.images):
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)
        assert x.labels.tolist() == y.labels.tolist() and x.ignore.tolist() == y.ignore.tolist()
    write_yolo(ds, tmp_path / "y", "train")
    yolo = read_yolo(tmp_path / "y")
    assert yolo.categories == ds.categories and len(yolo) == len(ds)
    for x, y in zip(ds.images, yolo.images):
        keep = ~x.ignore  # difficult boxes are not YOLO training targets
        np.testing.assert_allclose(x.boxes[keep], y.boxes, atol=0.01)


def test_marginal_box_is_clipped_and_counted(tmp_path):
    from tests.conftest import write_voc_xml

    write_png(tmp_path / "JPEGImages" / "a.png")
    write_voc_xml(tmp_path / "Annotations" / "a.xml", "a.png", [("cat", 1, 1, 66, 48)])  # 2 px over a 64 px side
    ds = read_voc(tmp_path)
    assert ds.report.clipped == 1
    np.testing.assert_allclose(ds.images[0].boxes[0], [0, 0, 64, 48])


def test_train_test_resolution(tiny_voc):
    ds = read_voc(tiny_voc)
    tt = resolve_train_test(ds)
    assert (len(tt.train), len(tt.test)) == (3, 1) and "trainval/test" in tt.how


def test_separate_test_set_aligns_categories_by_name(tiny_voc, tmp_path):
    from tests.conftest import write_voc_xml

    write_png(tmp_path / "t" / "JPEGImages" / "x.png")
    write_voc_xml(tmp_path / "t" / "Annotations" / "x.xml", "x.png", [("dog", 1, 1, 10, 10)])
    train, test = read_voc(tiny_voc), read_voc(tmp_path / "t")
    assert test.categories == ["dog"]
    tt = resolve_train_test(train, test)
    assert tt.test.categories == ["cat", "dog"] and tt.test.images[0].labels.tolist() == [1]


def test_holdout_depends_only_on_ids(tiny_voc):
    ds = read_voc(tiny_voc)
    ds.splits = {}
    big = ds.subset(list(range(4)) * 50)
    for k, im in enumerate(big.images):
        big.images[k] = type(im)(f"img{k}", im.file, im.width, im.height, im.boxes, im.labels, im.ignore)
    tr, te = holdout_indices(big)
    assert len(tr) + len(te) == 200 and 20 <= len(te) <= 60
    reversed_ds = big.subset(list(range(199, -1, -1)))
    tr2, te2 = holdout_indices(reversed_ds)
    assert sorted(reversed_ds.images[i].id for i in te2) == sorted(big.images[i].id for i in te)


def test_shapes_is_deterministic_and_split(tmp_path, monkeypatch):
    from dcbench.data.shapes import CLASSES, ShapesConfig, shapes_dataset

    cfg = ShapesConfig(n_train=12, n_test=4, size=64, max_extent=30)
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "one"))
    a = shapes_dataset(cfg)
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "two"))
    b = shapes_dataset(cfg)
    assert a.categories == CLASSES and {k: len(v) for k, v in a.splits.items()} == {"train": 12, "test": 4}
    assert a.fingerprint() == b.fingerprint()
    for x, y in zip(a.images, b.images):
        assert x.file != y.file and x.file.read_bytes() == y.file.read_bytes()
    assert all(im.n_boxes >= 1 for im in a.images)
    c = shapes_dataset(ShapesConfig(n_train=12, n_test=4, size=64, max_extent=30, seed=1))
    assert c.fingerprint() != a.fingerprint()


def test_a_larger_shapes_test_split_starts_with_the_smaller_one():
    """Each shapes image is drawn from its own (seed, split, index) stream, whatever the split sizes:
    benchmarks/test_set_size.py scores students on a larger test split whose first images are the reference's."""
    import importlib.util

    from dcbench.data.spec import resolve_train_test

    small = resolve_train_test(load_dataset("shapes:?n_train=6&n_test=3&size=64&max_extent=24")).test
    path = Path(__file__).parents[1] / "benchmarks" / "test_set_size.py"
    spec = importlib.util.spec_from_file_location("test_set_size", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    larger = module._larger("shapes:?n_train=6&n_test=3&size=64&max_extent=24", 5)
    assert larger == "shapes:?size=64&max_extent=24&n_train=1&n_test=5"
    large = resolve_train_test(load_dataset(larger)).test
    assert len(large) == 5
    for a, b in zip(small.images, large.images):
        assert a.file.read_bytes() == b.file.read_bytes() and (a.boxes == b.boxes).all()
    assert large.images[3].file.read_bytes() != small.images[0].file.read_bytes()
    with pytest.raises(SystemExit, match="only the built-in shapes dataset"):
        module._larger("voc:somewhere", 5)


def test_shapes_spec_options_are_validated():
    from dcbench.errors import DatasetError

    with pytest.raises(DatasetError, match="unknown shapes option"):
        load_dataset("shapes:?n_trian=5")
    ds = load_dataset("shapes:?n_train=6&n_test=3&size=64&max_extent=24")
    assert len(ds) == 9 and ds.source == "shapes:?n_train=6&n_test=3&size=64&max_extent=24"


def test_coco_reader_maps_sparse_category_ids_and_crowd(tmp_path):
    write_png(tmp_path / "images" / "i.png")
    data = {
        "images": [{"id": 7, "file_name": "i.png", "width": 64, "height": 48}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 90, "bbox": [1, 2, 10, 10], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 3, "bbox": [5, 5, 20, 20], "iscrowd": 1},
        ],
        "categories": [{"id": 90, "name": "toothbrush"}, {"id": 3, "name": "car"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(data))
    ds = read_coco(tmp_path / "a.json")
    assert ds.categories == ["car", "toothbrush"]
    assert ds.images[0].labels.tolist() == [1, 0] and ds.images[0].ignore.tolist() == [False, True]


def test_fingerprint_is_memoised_but_follows_changes(tiny_voc):
    from dataclasses import replace

    ds = read_voc(tiny_voc)
    first = ds.fingerprint()
    assert ds._fingerprint is not None and ds.fingerprint() == first
    renamed = replace(ds, categories=[*ds.categories, "extra"])
    assert renamed.fingerprint() != first  # a copy does not inherit the memo
    assert ds.subset([0, 1]).fingerprint() != first


def test_data_check_reports_box_scale(tiny_voc, capsys):
    from dcbench.cli.app import main

    assert main(["data", "check", f"voc:{tiny_voc}", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # sides 11, 26, sqrt(41*31), sqrt(64*48) px on 64 x 48 images: the median is between 26 and 35.65
    assert summary["box_side_px"]["median"] == 30.8
    assert summary["box_side_relative"]["median"] == 0.482
