"""Fuzzing the dataset readers: whatever a file holds, loading it gives a dataset or a DcbenchError (one line
naming the file), never another exception; and a valid file loads with every box and label it holds."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcbench.data.model import DetectionDataset
from dcbench.data.spec import load_dataset
from dcbench.errors import DatasetError, DcbenchError

# DCBENCH_FUZZ_EXAMPLES=2000 fuzzes harder (minutes); the default keeps each test to a few seconds
FUZZ = settings(
    max_examples=int(os.environ.get("DCBENCH_FUZZ_EXAMPLES", 80)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WIDTH, HEIGHT = 64, 48

# ------------------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), (90, 120, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def load_or_refuse(spec: str) -> DetectionDataset | None:
    """The dataset, or None when the reader refused it properly: one line naming a file, not the catch-all."""
    try:
        ds = load_dataset(spec)
    except DcbenchError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert isinstance(exc, DatasetError) and exc.path, f"names no file: {message}"
        assert "cannot parse:" not in message, f"an unforeseen fault reached the catch-all: {message}"
        return None
    assert isinstance(ds, DetectionDataset)
    assert len(ds) > 0 and all(0 <= label < ds.num_classes for im in ds.images for label in im.labels.tolist())
    return ds


# Byte-level damage to a valid file: flips, insertions, deletions and truncation at random places.
EDITS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "truncate"]),
        st.integers(min_value=0, max_value=10**6),
        st.binary(min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=4,
)


def damage(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    for op, at, chunk in edits:
        at = at % (len(data) + 1)
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (chunk[0] or 1)]) + data[at + 1 :]
        elif op == "insert":
            data = data[:at] + chunk + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + len(chunk) :]
        else:
            data = data[:at]
    return data


# Values a malformed file may hold where a number, a string or a list belongs.
ODD_TEXT = st.sampled_from(
    ["", " ", "nan", "NaN", "inf", "-inf", "1e999", "-1", "0", "64.5", "1_0", "0x10", "[bold]x[/]", "é", "\x00"]
) | st.text(max_size=8)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 2, 3, -1, 64, 48, 1.5, 0.0, 10**400])
    | st.floats(allow_nan=True, allow_infinity=True)
    | ODD_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
)


def paths(doc, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON-like document, the root's included."""
    found = [prefix]
    children = enumerate(doc) if isinstance(doc, list) else doc.items() if isinstance(doc, dict) else ()
    for key, value in children:
        found.extend(paths(value, (*prefix, key)))
    return found


def replaced(doc, path: tuple, value):
    if not path:
        return value
    copy = list(doc) if isinstance(doc, list) else dict(doc)
    copy[path[0]] = replaced(doc[path[0]], path[1:], value)
    return copy


def substitute(doc, data: st.DataObject, values) -> object:
    """``doc`` with the values at one to three random paths (leaves, mostly: they are most paths) replaced."""
    for _ in range(data.draw(st.integers(1, 3))):
        doc = replaced(doc, data.draw(st.sampled_from(paths(doc))), data.draw(values))
    return doc


# ---------------------------------------------------------------------------------------------------------- COCO

COCO_BOXES = st.lists(
    st.tuples(
        st.integers(0, 2),  # image index
        st.integers(0, WIDTH - 1),
        st.integers(0, HEIGHT - 1),
        st.integers(0, 20),
        st.integers(0, 20),
        st.sampled_from([1, 3, 90]),  # category id
        st.booleans(),  # iscrowd
    ),
    max_size=10,
)


def coco_doc(boxes: list[tuple]) -> dict:
    images = [{"id": 10 + k, "file_name": f"i{k}.png", "width": WIDTH, "height": HEIGHT} for k in range(3)]
    annotations = [
        {"id": n + 1, "image_id": 10 + k, "category_id": c, "bbox": [x, y, min(w, WIDTH - x), min(h, HEIGHT - y)]}
        | {"iscrowd": int(crowd), "segmentation": [[x, y, x + 1, y + 1]]}
        for n, (k, x, y, w, h, c, crowd) in enumerate(boxes)
    ]
    categories = [{"id": 90, "name": "toothbrush"}, {"id": 3, "name": "car"}, {"id": 1, "name": "person"}]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(folder: Path, png: bytes, content: bytes) -> str:
    for k in range(3):
        (folder / f"i{k}.png").write_bytes(png)
    (folder / "instances.json").write_bytes(content)
    return f"coco:{folder / 'instances.json'}"


@FUZZ
@given(boxes=COCO_BOXES)
def test_a_valid_coco_file_loads_every_box(png, boxes):
    doc = coco_doc(boxes)
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_or_refuse(write_coco(Path(tmp), png, json.dumps(doc).encode()))
    assert ds is not None and ds.categories == ["person", "car", "toothbrush"]
    index = {1: 0, 3: 1, 90: 2}
    for k, im in enumerate(ds.images):
        kept = [a for a in doc["annotations"] if a["image_id"] == 10 + k and a["bbox"][2] > 0 and a["bbox"][3] > 0]
        assert im.id == str(10 + k) and im.n_boxes == len(kept)
        assert im.labels.tolist() == [index[a["category_id"]] for a in kept]
        assert im.ignore.tolist() == [bool(a["iscrowd"]) for a in kept]
    assert ds.report.dropped_zero_size == len(doc["annotations"]) - ds.n_boxes


@FUZZ
@given(boxes=COCO_BOXES, data=st.data())
@pytest.mark.slow
def test_coco_with_a_value_replaced_anywhere(png, boxes, data):
    doc = substitute(coco_doc(boxes), data, JSON_VALUES)
    with tempfile.TemporaryDirectory() as tmp:
        load_or_refuse(write_coco(Path(tmp), png, json.dumps(doc).encode()))


@FUZZ
@given(boxes=COCO_BOXES, edits=EDITS)
@pytest.mark.slow
def test_coco_with_damaged_bytes(png, boxes, edits):
    with tempfile.TemporaryDirectory() as tmp:
        load_or_refuse(write_coco(Path(tmp), png, damage(json.dumps(coco_doc(boxes)).encode(), edits)))


# ----------------------------------------------------------------------------------------------------------- VOC

VOC_OBJECTS = st.lists(
    st.tuples(
        st.sampled_from(["cat", "dog", "[bold]x[/]"]),
        st.integers(1, WIDTH),
        st.integers(1, HEIGHT),
        st.integers(0, 20),
        st.integers(0, 20),
        st.booleans(),  # difficult
    ),
    max_size=6,
)


def voc_xml(objects: list[tuple]) -> str:
    parts = [
        f"<object><name>{n.replace('&', '&amp;').replace('<', '&lt;')}</name><difficult>{int(d)}</difficult>"
        f"<bndbox><xmin>{x}</xmin><ymin>{y}</ymin><xmax>{min(x + w, WIDTH)}</xmax><ymax>{min(y + h, HEIGHT)}</ymax>"
        "</bndbox></object>"
        for n, x, y, w, h, d in objects
    ]
    return (
        f"<annotation><filename>a.png</filename><size><width>{WIDTH}</width><height>{HEIGHT}</height></size>"
        f"{''.join(parts)}</annotation>"
    )


def write_voc(folder: Path, png: bytes, xml: bytes) -> str:
    (folder / "JPEGImages").mkdir()
    (folder / "Annotations").mkdir()
    (folder / "JPEGImages" / "a.png").write_bytes(png)
    (folder / "Annotations" / "a.xml").write_bytes(xml)
    return f"voc:{folder}"


@FUZZ
@given(objects=VOC_OBJECTS)
@pytest.mark.slow
def test_a_valid_voc_file_loads_every_box(png, objects):
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_or_refuse(write_voc(Path(tmp), png, voc_xml(objects).encode()))
    kept = [o for o in objects if min(o[1] + o[3], WIDTH) != o[1] and min(o[2] + o[4], HEIGHT) != o[2]]
    assert ds is not None and ds.n_boxes == len(kept)
    assert [ds.categories[i] for i in ds.images[0].labels.tolist()] == [o[0] for o in kept]
    assert ds.images[0].ignore.tolist() == [o[5] for o in kept]
    assert ds.images[0].boxes[:, 0].tolist() == [o[1] - 1 for o in kept]  # 1-based VOC to 0-based edges


def _xml_text_replaced(xml: str, data: st.DataObject) -> str:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    nodes = list(root.iter())
    for _ in range(data.draw(st.integers(1, 3))):
        node = data.draw(st.sampled_from(nodes))
        action = data.draw(st.sampled_from(["text", "remove", "duplicate", "tag"]))
        parent = next((p for p in nodes if node in list(p)), None)
        if action == "text":
            node.text = data.draw(ODD_TEXT.filter(lambda t: "\x00" not in t))
        elif action == "tag":
            node.tag = data.draw(st.sampled_from(["annotation", "object", "bndbox", "size", "name", "x"]))
        elif parent is not None and action == "remove":
            parent.remove(node)
        elif parent is not None:
            parent.append(node)
    return ET.tostring(root, encoding="unicode")


@FUZZ
@given(objects=VOC_OBJECTS.map(lambda objects: objects[:2]), data=st.data())  # few elements: each is hit often
@pytest.mark.slow
def test_voc_with_elements_changed(png, objects, data):
    try:
        xml = _xml_text_replaced(voc_xml(objects), data)
    except ValueError:  # a character XML cannot hold at all: ElementTree refuses to write it
        return
    with tempfile.TemporaryDirectory() as tmp:
        load_or_refuse(write_voc(Path(tmp), png, xml.encode()))


@FUZZ
@given(objects=VOC_OBJECTS, edits=EDITS)
@pytest.mark.slow
def test_voc_with_damaged_bytes(png, objects, edits):
    with tempfile.TemporaryDirectory() as tmp:
        load_or_refuse(write_voc(Path(tmp), png, damage(voc_xml(objects).encode(), edits)))


@FUZZ
@given(split=st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
@pytest.mark.slow
def test_voc_with_any_split_file(png, split):
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_voc(Path(tmp), png, voc_xml([("cat", 1, 1, 5, 5, False)]).encode())
        (Path(tmp) / "ImageSets" / "Main").mkdir(parents=True)
        (Path(tmp) / "ImageSets" / "Main" / "train.txt").write_bytes(split)
        load_or_refuse(spec)


# ---------------------------------------------------------------------------------------------------------- YOLO

YOLO_BOXES = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.floats(0.25, 0.75),
        st.floats(0.25, 0.75),
        st.sampled_from([0.0, 0.1, 0.2, 0.5]),
        st.sampled_from([0.0, 0.1, 0.3, 0.5]),
    ),
    max_size=8,
)
NAMES = ["a", "b", "c"]


def yolo_label(boxes: list[tuple]) -> str:
    return "".join(f"{c} {xc:.6f} {yc:.6f} {w} {h}\n" for c, xc, yc, w, h in boxes)


def write_yolo(folder: Path, png: bytes, label: bytes, names: tuple[str, bytes] = ("classes.txt", b"a\nb\nc\n")) -> str:
    (folder / "images" / "train").mkdir(parents=True)
    (folder / "labels" / "train").mkdir(parents=True)
    (folder / "images" / "train" / "x.png").write_bytes(png)
    (folder / "images" / "train" / "y.png").write_bytes(png)  # a background image: no label file
    (folder / "labels" / "train" / "x.txt").write_bytes(label)
    (folder / names[0]).write_bytes(names[1])
    return f"yolo:{folder}"


@FUZZ
@given(boxes=YOLO_BOXES)
@pytest.mark.slow
def test_a_valid_yolo_label_file_loads_every_box(png, boxes):
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_or_refuse(write_yolo(Path(tmp), png, yolo_label(boxes).encode()))
    kept = [b for b in boxes if b[3] > 0 and b[4] > 0]
    assert ds is not None and ds.categories == NAMES and [im.id for im in ds.images] == ["train/x", "train/y"]
    assert ds.images[0].labels.tolist() == [b[0] for b in kept] and ds.images[1].n_boxes == 0
    assert ds.report.dropped_zero_size == len(boxes) - len(kept)


YOLO_TOKENS = st.sampled_from(["0", "1", "2", "3", "-1", "0.5", "1.5", "nan", "inf", "1e999", "x", "", "0.2", "1e-300"])


@FUZZ
@given(lines=st.lists(st.lists(YOLO_TOKENS, max_size=6).map(" ".join) | st.text(max_size=20), max_size=5))
@pytest.mark.slow
def test_yolo_with_any_label_lines(png, lines):
    with tempfile.TemporaryDirectory() as tmp:
        load_or_refuse(write_yolo(Path(tmp), png, "\n".join(lines).encode("utf-8", "surrogatepass")))


@FUZZ
@given(boxes=YOLO_BOXES, edits=EDITS)
@pytest.mark.slow
def test_yolo_with_damaged_label_bytes(png, boxes, edits):
    with tempfile.TemporaryDirectory() as tmp:
        load_or_refuse(write_yolo(Path(tmp), png, damage(yolo_label(boxes).encode(), edits)))


YAML_SCALARS = st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=True) | ODD_TEXT
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.integers(-1, 4) | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=8,
)


def _yaml_document(data: st.DataObject) -> bytes:
    import yaml

    kind = data.draw(st.sampled_from(["names", "anything", "damaged", "text"]))
    valid = yaml.safe_dump({"path": ".", "nc": 3, "names": NAMES}).encode()
    if kind == "names":
        doc = {"names": data.draw(YAML_VALUES)} | data.draw(st.sampled_from([{}, {"nc": 3}, {"nc": "x"}]))
        return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
    if kind == "anything":
        return yaml.safe_dump(data.draw(YAML_VALUES), allow_unicode=True).encode("utf-8", "surrogatepass")
    if kind == "damaged":
        return damage(valid, data.draw(EDITS))
    return data.draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")


@FUZZ
@given(data=st.data())
@pytest.mark.slow
def test_yolo_with_any_data_yaml(png, data):
    content = _yaml_document(data)
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_or_refuse(write_yolo(Path(tmp), png, b"0 0.5 0.5 0.1 0.1\n", ("data.yaml", content)))
    if ds is not None:  # whatever was accepted is a clean list of distinct names
        assert ds.categories and len(set(ds.categories)) == len(ds.categories)
        assert all(isinstance(n, str) and n.strip() for n in ds.categories)


# no control or line-break characters: PyYAML itself does not round-trip some (NEL becomes a space)
NAME_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=8)


@FUZZ
@given(names=st.lists(NAME_TEXT.filter(lambda t: t.strip() == t and t), unique=True, min_size=1))
@pytest.mark.slow
def test_valid_yolo_names_load_verbatim(png, names):
    import yaml

    content = yaml.safe_dump({"names": names}, allow_unicode=True).encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_or_refuse(write_yolo(Path(tmp), png, b"0 0.5 0.5 0.1 0.1\n", ("data.yaml", content)))
    assert ds is not None and ds.categories == names


@FUZZ
@given(content=st.binary(max_size=40) | st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")))
@pytest.mark.slow
def test_yolo_with_any_classes_txt(png, content):
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_or_refuse(write_yolo(Path(tmp), png, b"0 0.5 0.5 0.1 0.1\n", ("classes.txt", content)))
    if ds is not None:
        assert len(set(ds.categories)) == len(ds.categories) and all(n == n.strip() and n for n in ds.categories)
