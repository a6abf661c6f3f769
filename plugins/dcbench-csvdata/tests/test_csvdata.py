import numpy as np
import pytest
from PIL import Image

import dcbench_csvdata.plugin as plugin
from dcbench.errors import DatasetError
from dcbench.testing import check_dataset, check_registers


def _write(tmp_path, rows, header="image,split,x1,y1,x2,y2,label"):
    (tmp_path / "img").mkdir(exist_ok=True)
    for k in range(3):
        Image.fromarray(np.full((40, 50, 3), 30 * k, np.uint8)).save(tmp_path / "img" / f"{k}.png")
    f = tmp_path / "boxes.csv"
    f.write_text(header + "\n" + "\n".join(rows) + "\n")
    return f


ROWS = [
    "img/0.png,train,1,2,20,30,cat",
    "img/0.png,train,5,5,45,35,dog",
    "img/1.png,train,0,0,10,10,dog",
    "img/2.png,test,,,,,",
]


def test_contract(tmp_path, dcbench_cache):
    f = _write(tmp_path, ROWS)
    check_registers(plugin, datasets=["csv"])
    ds = check_dataset("csv", str(f), plugin=plugin)
    assert ds.categories == ["cat", "dog"] and {k: len(v) for k, v in ds.splits.items()} == {"train": 2, "test": 1}
    assert ds.images[0].labels.tolist() == [0, 1] and ds.images[2].n_boxes == 0


def test_bad_csv_is_one_clear_line(tmp_path):
    from dcbench_csvdata.reader import read_csv_dataset

    with pytest.raises(DatasetError, match="missing column"):
        read_csv_dataset(_write(tmp_path, ["img/0.png,1,2,3,4"], header="image,x1,y1,x2,y2"))
    with pytest.raises(DatasetError, match="path traversal"):
        read_csv_dataset(_write(tmp_path, ["../x.png,train,1,2,3,4,cat"]))
    with pytest.raises(DatasetError, match="not numbers"):
        read_csv_dataset(_write(tmp_path, ["img/0.png,train,a,2,3,4,cat"]))
