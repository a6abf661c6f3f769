"""Damaged or abandoned cache entries are found and rebuilt in one line, never a traceback or a wrong result."""

import json

import pytest

pytest.importorskip("ultralytics")

from dcbench.cache import cache_dir  # noqa: E402
from dcbench.harness.identity import make_detector
from dcbench.harness.teacher import fetch_teacher, teacher_key  # noqa: E402
from dcbench.protocols import get_protocol  # noqa: E402
from dcbench.testing import tiny_dataset  # noqa: E402


class Notes:
    def __init__(self):
        self.notes = []

    def note(self, message):
        self.notes.append(message)

    def stage(self, name, total=None, unit=""):
        from dcbench.progress import SILENT

        return SILENT.stage(name, total, unit)


@pytest.fixture
def teacher_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    train = tiny_dataset(n_train=8, n_test=2).split("train")
    backend, smoke = make_detector("yolov3-tiny"), get_protocol("smoke")
    return train, backend, smoke, cache_dir("teachers") / teacher_key(train, backend, smoke, 0)


def _fetch(setup, notes=None):
    train, backend, smoke, _ = setup
    return fetch_teacher(train, backend, protocol=smoke, seed=0, device="cpu", reporter=notes)


@pytest.mark.slow
def test_a_killed_trainings_leftover_is_removed(teacher_setup):
    root = teacher_setup[3]
    dead = root.with_name(f"{root.name}.partial999999")  # no such process
    dead.mkdir(parents=True)
    (dead / "weights.pt").write_bytes(b"x" * 1000)
    notes = Notes()
    _, record = _fetch(teacher_setup, notes)
    assert record["source"] == "trained" and not dead.exists()
    assert any("removed" in n and "killed" in n for n in notes.notes)


@pytest.mark.parametrize("damage", ["truncated weights", "invalid teacher.json", "missing weights"])
@pytest.mark.slow
def test_a_damaged_cached_teacher_is_trained_again_in_one_line(teacher_setup, damage):
    _, first = _fetch(teacher_setup)
    root = teacher_setup[3]
    weights = root / first["weights"]
    if damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "invalid teacher.json":
        (root / "teacher.json").write_text("{not json")
    else:
        weights.unlink()
    notes = Notes()
    teacher, again = _fetch(teacher_setup, notes)
    assert again["source"] == "trained" and len([n for n in notes.notes if "damaged" in n]) == 1
    assert json.loads((root / "teacher.json").read_text())["weights_sha256"] == again["weights_sha256"]
    assert _fetch(teacher_setup)[1]["source"] == "cached"


@pytest.mark.parametrize("damage", ["truncated", "altered"])
@pytest.mark.slow
def test_damaged_cached_features_are_extracted_again(teacher_setup, damage):
    import numpy as np

    from dcbench.api import Teacher
    from dcbench.methods.features import image_features

    train, backend, smoke, _ = teacher_setup
    fetched, _ = _fetch(teacher_setup)
    teacher = Teacher(backend, fetched.checkpoint, smoke, "cpu")
    first, record = image_features(train, "teacher", teacher=teacher, protocol=smoke, device="cpu")
    cached = cache_dir("features") / f"{record['cache_key']}.npy"
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-4] + b"\x00\x00\x80\x7f")
    notes = Notes()
    again, record = image_features(train, "teacher", teacher=teacher, protocol=smoke, device="cpu", reporter=notes)
    assert not record["cached"] and np.array_equal(first, again)
    assert len(notes.notes) == 1 and "cached features" in notes.notes[0] and str(cached) in notes.notes[0]
    # the entry keeps what its extraction took, so a cell that only reads it can still be charged that
    _, read = image_features(train, "teacher", teacher=teacher, protocol=smoke, device="cpu")
    assert read["cached"] and read["extract_s"] == record["extract_s"] > 0
    cached.with_suffix(".cost.json").unlink()  # an entry cached before the cost was recorded
    _, read = image_features(train, "teacher", teacher=teacher, protocol=smoke, device="cpu")
    assert read["cached"] and "extract_s" not in read


def test_a_truncated_image_in_the_built_in_dataset_is_regenerated_not_dropped(tmp_path, monkeypatch):
    from dcbench.data.shapes import ShapesConfig, shapes_dataset

    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    cfg = ShapesConfig(n_train=6, n_test=2, size=64, max_extent=28)
    first = shapes_dataset(cfg)
    victim = first.images[2].file
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 3])
    with pytest.warns(UserWarning, match="damaged"):
        again = shapes_dataset(cfg)
    assert again.images[2].file.read_bytes() == good and again.fingerprint() == first.fingerprint()


def test_a_student_never_trains_on_fewer_images_than_recorded(tmp_path):
    """An image Ultralytics cannot read is an error naming it, not a silent 9-of-10 training."""
    from dcbench.data.voc import read_voc
    from dcbench.errors import DatasetError
    from tests.conftest import write_png, write_voc_xml

    root = tmp_path / "voc"
    for k in range(4):
        write_png(root / "JPEGImages" / f"{k}.png", seed=k)
        write_voc_xml(root / "Annotations" / f"{k}.xml", f"{k}.png", [("cat", 5, 5, 30, 30)])
    ds = read_voc(root)
    broken = ds.images[1].file
    broken.write_bytes(broken.read_bytes()[:200])  # after loading: damaged under a running benchmark
    with pytest.raises(DatasetError, match=r"unreadable image: Ultralytics would train on 3 of 4 images") as info:
        make_detector("yolov3-tiny").train(
            ds, protocol=get_protocol("smoke"), seed=0, workdir=tmp_path / "w", device="cpu"
        )
    assert str(broken) in str(info.value)


def test_a_condensed_set_shares_no_inode_with_its_source(tmp_path, monkeypatch):
    from dcbench.condensed import write_condensed
    from dcbench.data.shapes import ShapesConfig, shapes_dataset

    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    ds = shapes_dataset(ShapesConfig(n_train=4, n_test=2, size=64, max_extent=28))
    cs = write_condensed(ds.subset([0, 1]), tmp_path / "set", {"method": "test"})
    for im, src in zip(cs.dataset.images, ds.subset([0, 1]).images):
        assert im.file.read_bytes() == src.file.read_bytes() and im.file.stat().st_ino != src.file.stat().st_ino
