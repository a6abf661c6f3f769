import numpy as np
import pytest

import dcbench_objcount.plugin as plugin
from dcbench.data.model import DetectionDataset, ImageRecord
from dcbench.testing import check_method, check_registers
from dcbench_objcount.method import ObjectCountSelection


def test_contract(tmp_path, dcbench_cache):
    check_registers(plugin, methods=["objcount"])
    check_method("objcount", tmp_path, plugin=plugin)
    check_method(
        "objcount", tmp_path / "capped", plugin=plugin, options={"class_cap": 0.3}, bad_options={"class_cap": 2}
    )


def _ds(box_counts, labels_per_image):
    images = []
    for k, (n, label) in enumerate(zip(box_counts, labels_per_image)):
        boxes = np.tile([[0, 0, 4, 4]], (n, 1))
        images.append(ImageRecord(str(k), f"{k}.png", 8, 8, boxes, [label] * n, [False] * n))
    return DetectionDataset("t", ["a", "b"], images)


def test_densest_images_first_with_a_class_cap():
    ds = _ds([9, 8, 7, 1, 2], [0, 0, 0, 1, 1])
    assert ObjectCountSelection(class_cap=1.0).select(ds, 2, seed=0) == [0, 1]
    # class a may claim one of two places: the densest b image takes the other
    assert ObjectCountSelection(class_cap=0.5).select(ds, 2, seed=0) == [0, 4]


def test_plugin_is_listed_when_installed():
    from dcbench.plugins.manager import build_registries

    regs = build_registries()
    if "objcount" not in regs.methods:
        pytest.skip("dcbench-objcount is not installed (pip install -e plugins/dcbench-objcount)")
    assert regs.methods.entry("objcount").source == "objcount"
