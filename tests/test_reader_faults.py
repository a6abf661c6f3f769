"""Reader faults: every malformed file is one DatasetError line naming the file, never a traceback, never a
silently wrong number or label. The corpus runs through ``dcbench data check`` as a user would meet it."""

from __future__ import annotations

import json
import os

import pytest

from dcbench.cli.app import main
from dcbench.data.spec import load_dataset, resolve_train_test
from dcbench.errors import DatasetError
from tests.conftest import write_png, write_voc_xml

# ---------------------------------------------------------------------------------------------------------- COCO


def _coco_data(n_images: int = 1) -> dict:
    return {
        "images": [{"id": k + 1, "file_name": f"i{k}.png", "width": 64, "height": 48} for k in range(n_images)],
        "annotations": [
            {"id": k + 1, "image_id": k + 1, "category_id": 1, "bbox": [1, 2, 10, 10]} for k in range(n_images)
        ],
        "categories": [{"id": 1, "name": "a"}],
    }


def _coco(tmp_path, data: dict | None = None, text: str | None = None, n_images: int = 1) -> str:
    for k in range(n_images):
        write_png(tmp_path / f"i{k}.png", seed=k)
    path = tmp_path / "instances.json"
    path.write_text(text if text is not None else json.dumps(data if data is not None else _coco_data(n_images)))
    return f"coco:{path}"


def coco_duplicate_image_id(tmp_path):
    data = _coco_data(2)
    data["images"][1]["id"] = 1
    return _coco(tmp_path, data, n_images=2), "instances.json", "duplicate image id 1 (file_names i0.png, i1.png)"


def coco_duplicate_annotation_ids(tmp_path):
    data = _coco_data(1)
    box = {"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]}
    data["annotations"] = [{"id": i, **box} for i in (3, 3, 4, 5, 5)]
    return _coco(tmp_path, data), "instances.json", "duplicate annotation id(s) 3, 5"


def coco_duplicate_category_id(tmp_path):
    data = _coco_data(1)
    data["categories"].append({"id": 1, "name": "b"})
    return _coco(tmp_path, data), "instances.json", "duplicate category id(s) 1"


def coco_list_image_id(tmp_path):
    data = _coco_data(1)
    data["images"][0]["id"] = [1]
    return _coco(tmp_path, data), "instances.json", "images[0] has an invalid id [1]"


def coco_bool_image_id(tmp_path):
    data = _coco_data(1)
    data["images"][0]["id"] = True  # True == 1: it would take image 1's annotations
    return _coco(tmp_path, data), "instances.json", "images[0] has an invalid id True"


def coco_dict_annotation_id(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["id"] = {"a": 1}
    return _coco(tmp_path, data), "instances.json", "annotations[0] has an invalid id {'a': 1}"


def coco_list_image_id_in_annotation(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["image_id"] = [1]
    return _coco(tmp_path, data), "instances.json", "annotation 1 has an invalid image_id [1]"


def coco_bool_category_id(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["category_id"] = True
    return _coco(tmp_path, data), "instances.json", "annotation 1 has an invalid category_id True"


def coco_string_bbox(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["bbox"] = "1,2,10,10"
    return _coco(tmp_path, data), "instances.json", "annotation 1 has an invalid bbox '1,2,10,10'"


def coco_string_bbox_entry(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["bbox"] = ["1", 2, 10, 10]  # float("1") would take it silently
    return _coco(tmp_path, data), "instances.json", "annotation 1 has an invalid bbox ['1', 2, 10, 10]"


def coco_word_bbox_entry(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["bbox"] = ["one", 2, 10, 10]
    return _coco(tmp_path, data), "instances.json", "annotation 1 has an invalid bbox"


def coco_nan_bbox(tmp_path):
    text = json.dumps(_coco_data(1)).replace('"bbox": [1, 2, 10, 10]', '"bbox": [NaN, 2, 10, 10]')
    return _coco(tmp_path, text=text), "instances.json", "annotation 1 has a non-finite bbox"


def coco_infinite_bbox(tmp_path):
    text = json.dumps(_coco_data(1)).replace('"bbox": [1, 2, 10, 10]', '"bbox": [1, 2, Infinity, 10]')
    return _coco(tmp_path, text=text), "instances.json", "annotation 1 has a non-finite bbox"


def coco_overflowing_bbox(tmp_path):
    text = json.dumps(_coco_data(1)).replace('"bbox": [1, 2, 10, 10]', '"bbox": [1, 2, 1e999, 10]')
    return _coco(tmp_path, text=text), "instances.json", "annotation 1 has a non-finite bbox"


def coco_fractional_width(tmp_path):
    data = _coco_data(1)
    data["images"][0]["width"] = 64.5
    return _coco(tmp_path, data), "instances.json", "image 1 (i0.png): width 64.5 is not a positive integer"


def coco_string_height(tmp_path):
    data = _coco_data(1)
    data["images"][0]["height"] = "48"
    return _coco(tmp_path, data), "instances.json", "image 1 (i0.png): height '48' is not a positive integer"


def coco_infinite_width(tmp_path):
    text = json.dumps(_coco_data(1)).replace('"width": 64', '"width": 1e999')
    return _coco(tmp_path, text=text), "instances.json", "image 1 (i0.png): width inf is not a positive integer"


def coco_image_entry_not_an_object(tmp_path):
    data = _coco_data(1)
    data["images"].insert(0, 5)
    return _coco(tmp_path, data), "instances.json", "images[0] is not a JSON object: 5"


def coco_annotation_not_an_object(tmp_path):
    data = _coco_data(1)
    data["annotations"].append("box")
    return _coco(tmp_path, data), "instances.json", "annotations[1] is not a JSON object: 'box'"


def coco_file_name_not_a_string(tmp_path):
    data = _coco_data(1)
    data["images"][0]["file_name"] = ["i0.png"]
    return _coco(tmp_path, data), "instances.json", "image 1 has an invalid file_name ['i0.png']"


def coco_category_name_not_a_string(tmp_path):
    data = _coco_data(1)
    data["categories"][0]["name"] = ["a"]
    return _coco(tmp_path, data), "instances.json", "category 1 has an invalid name ['a']"


def coco_string_iscrowd(tmp_path):
    data = _coco_data(1)
    data["annotations"][0]["iscrowd"] = "0"  # bool("0") is True: the box would be ignored silently
    return _coco(tmp_path, data), "instances.json", "annotation 1 has an invalid iscrowd '0'"


def coco_deep_json(tmp_path):
    return _coco(tmp_path, text="[" * 100_000 + "]" * 100_000), "instances.json", "nested too deeply"


def coco_empty_file(tmp_path):
    return _coco(tmp_path, text=""), "instances.json", "empty file"


def coco_not_utf8(tmp_path):
    spec = _coco(tmp_path)
    (tmp_path / "instances.json").write_bytes(b'{"images": [], "x": "\xff\xfe"}')
    return spec, "instances.json", "not UTF-8"


def coco_json_is_a_folder(tmp_path):
    (tmp_path / "instances.json").mkdir()
    return f"coco:{tmp_path / 'instances.json'}", "instances.json", "is a folder, not a file"


def coco_json_link_loops(tmp_path):
    (tmp_path / "instances.json").symlink_to(tmp_path / "instances.json")
    return f"coco:{tmp_path / 'instances.json'}", "instances.json", "symbolic link that loops"


def coco_image_link_loops(tmp_path):
    spec = _coco(tmp_path)
    (tmp_path / "i0.png").unlink()
    (tmp_path / "i0.png").symlink_to(tmp_path / "i0.png")
    return spec, "i0.png", "symbolic link that loops"


# ----------------------------------------------------------------------------------------------------------- VOC


def _voc(tmp_path, objects=(("cat", 1, 1, 5, 5),), width=64, height=48):
    write_png(tmp_path / "JPEGImages" / "a.png")
    write_voc_xml(tmp_path / "Annotations" / "a.xml", "a.png", list(objects), width, height)
    return f"voc:{tmp_path}"


def voc_nan_coordinate(tmp_path):
    return _voc(tmp_path, [("cat", "nan", 1, 5, 5)]), "a.xml", "<xmin> is not a finite number: 'nan'"


def voc_overflowing_coordinate(tmp_path):
    return _voc(tmp_path, [("cat", 1, 1, "1e999", 5)]), "a.xml", "<xmax> is not a finite number: '1e999'"


def voc_infinite_width(tmp_path):
    return _voc(tmp_path, width="inf"), "a.xml", "<width> is not a finite number: 'inf'"


def voc_nan_height(tmp_path):
    return _voc(tmp_path, height="nan"), "a.xml", "<height> is not a finite number: 'nan'"


def voc_fractional_width(tmp_path):
    return _voc(tmp_path, width="64.5"), "a.xml", "<width> is not a whole number: '64.5'"


def voc_unknown_xml_encoding(tmp_path):
    spec = _voc(tmp_path)
    xml = tmp_path / "Annotations" / "a.xml"
    xml.write_text('<?xml version="1.0" encoding="no-such-codec"?>' + xml.read_text())
    return spec, "a.xml", "malformed XML"


def voc_xml_not_utf8(tmp_path):
    spec = _voc(tmp_path, [("caf\xe9", 1, 1, 5, 5)])
    xml = tmp_path / "Annotations" / "a.xml"
    xml.write_bytes(xml.read_text().encode("latin-1"))  # no declaration: the parser must take it as UTF-8
    return spec, "a.xml", "malformed XML"


def voc_empty_xml(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "Annotations" / "a.xml").write_text("")
    return spec, "a.xml", "malformed XML"


def voc_split_file_not_utf8(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_bytes(b"a\n\xff\xfeb\n")
    return spec, "train.txt", "not UTF-8"


def voc_annotation_is_a_folder(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "Annotations" / "b.xml").mkdir()
    return spec, "b.xml", "is a folder, not a file"


def voc_listed_annotation_is_a_folder(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "Annotations" / "b.xml").mkdir()
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    return spec, "b.xml", "is a folder, not a file"


def voc_empty_split_file(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "trainval.txt").write_text("a\n")
    (tmp_path / "ImageSets" / "Main" / "test.txt").write_text("\n")  # a test split of no images
    return spec, "test.txt", "lists no image ids"


def voc_split_lists_an_image_twice(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("a\na\n")
    return spec, "train.txt", "lists 'a' more than once"


def voc_difficult_not_a_flag(tmp_path):
    spec = _voc(tmp_path)
    xml = tmp_path / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<difficult>0</difficult>", "<difficult>yes</difficult>"))
    return spec, "a.xml", "<difficult> is not 0 or 1: 'yes'"


def voc_folder_link_loops(tmp_path):
    (tmp_path / "voc").symlink_to(tmp_path / "voc")
    return f"voc:{tmp_path / 'voc'}", "voc", "symbolic link that loops"


def voc_image_link_loops(tmp_path):
    spec = _voc(tmp_path)
    image = tmp_path / "JPEGImages" / "a.png"
    image.unlink()
    image.symlink_to(image)
    return spec, "a.png", "symbolic link that loops"


def voc_annotation_link_loops(tmp_path):
    spec = _voc(tmp_path)
    xml = tmp_path / "Annotations" / "b.xml"
    xml.symlink_to(xml)
    return spec, "b.xml", "symbolic link that loops"


def voc_classes_link_loops(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "classes.txt").symlink_to(tmp_path / "classes.txt")  # skipped, the class list would be guessed
    return spec, "classes.txt", "symbolic link that loops"


def voc_classes_is_a_folder(tmp_path):
    spec = _voc(tmp_path)
    (tmp_path / "classes.txt").mkdir()
    return spec, "classes.txt", "is a folder, not a file"


# ---------------------------------------------------------------------------------------------------------- YOLO


def _yolo(tmp_path, label: str = "0 0.5 0.5 0.2 0.2\n", classes: str | None = "a\nb\n") -> str:
    write_png(tmp_path / "images" / "x.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text(label)
    if classes is not None:
        (tmp_path / "classes.txt").write_text(classes)
    return f"yolo:{tmp_path}"


def _yolo_yaml(tmp_path, text: str | bytes) -> tuple[str, str]:
    spec = _yolo(tmp_path, classes=None)
    path = tmp_path / "data.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return spec, "data.yaml"


def yolo_nan_label(tmp_path):
    return _yolo(tmp_path, "0 nan 0.5 0.2 0.2\n"), "x.txt", "line 1: not finite numbers"


def yolo_overflowing_label(tmp_path):
    return _yolo(tmp_path, "0 0.5 0.5 1e999 0.2\n"), "x.txt", "line 1: not finite numbers"


def yolo_label_not_utf8(tmp_path):
    spec = _yolo(tmp_path)
    (tmp_path / "labels" / "x.txt").write_bytes(b"0 0.5 0.5 0.2 0.2 \xff\n")
    return spec, "x.txt", "not UTF-8"


def yolo_label_is_a_folder(tmp_path):
    spec = _yolo(tmp_path)
    (tmp_path / "labels" / "x.txt").unlink()
    (tmp_path / "labels" / "x.txt").mkdir()  # taken for a background image, its boxes lost
    return spec, "x.txt", "is a folder, not a file"


def yolo_label_link_loops(tmp_path):
    spec = _yolo(tmp_path)
    label = tmp_path / "labels" / "x.txt"
    label.unlink()
    label.symlink_to(label)
    return spec, "x.txt", "symbolic link that loops"


def yolo_labels_folder_is_a_file(tmp_path):
    spec = _yolo(tmp_path)
    (tmp_path / "labels" / "x.txt").unlink()
    (tmp_path / "labels").rmdir()
    (tmp_path / "labels").write_text("0 0.5 0.5 0.2 0.2\n")  # every image would read as a background image
    return spec, "labels", "is a file, not a folder"


def yolo_two_images_one_label(tmp_path):
    spec = _yolo(tmp_path)
    write_png(tmp_path / "images" / "x.jpg")
    return spec, "images", "x.jpg and x.png would share the label file x.txt"


def yolo_image_link_loops(tmp_path):
    spec = _yolo(tmp_path)
    image = tmp_path / "images" / "x.png"
    image.unlink()
    image.symlink_to(image)
    return spec, "x.png", "symbolic link that loops"


def coco_image_folder_link_loops(tmp_path):
    spec = _coco(tmp_path)
    (tmp_path / "imgs").symlink_to(tmp_path / "imgs")
    return f"{spec}?images={tmp_path / 'imgs'}", "imgs", "symbolic link that loops"


def yolo_classes_link_loops(tmp_path):
    spec = _yolo(tmp_path, classes=None)
    (tmp_path / "classes.txt").symlink_to(tmp_path / "classes.txt")
    return spec, "classes.txt", "symbolic link that loops"


def yolo_classes_not_utf8(tmp_path):
    spec = _yolo(tmp_path, classes=None)
    (tmp_path / "classes.txt").write_bytes(b"a\n\xffb\n")
    return spec, "classes.txt", "not UTF-8"


def yolo_empty_classes(tmp_path):
    return _yolo(tmp_path, classes=""), "classes.txt", "no class names"


def yolo_yaml_not_utf8(tmp_path):
    return (*_yolo_yaml(tmp_path, b"names: [a, \xff]\n"), "not UTF-8")


def yolo_yaml_invalid(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: [a, b\n"), "malformed YAML")


def yolo_yaml_not_a_mapping(tmp_path):
    return (*_yolo_yaml(tmp_path, "- a\n- b\n"), "is a list, not a mapping")


def yolo_yaml_bad_date(tmp_path):
    return (*_yolo_yaml(tmp_path, "date: 2001-13-01\nnames: [a]\n"), "malformed YAML")


def yolo_yaml_deep(tmp_path):
    return (*_yolo_yaml(tmp_path, "[" * 100_000), "nested too deeply")


def yolo_names_a_string(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: a b\n"), "'names' is a str, expected a list or a mapping")


def yolo_names_a_number(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: 3\n"), "'names' is a int, expected a list or a mapping")


def yolo_names_mixed_keys(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: {0: a, b: c}\n"), "'names' keys must be the class ids 0..1")


def yolo_names_string_keys(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: {x: a, y: b}\n"), "'names' keys must be the class ids 0..1")


def yolo_names_with_a_gap(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: {0: a, 2: b}\n"), "'names' keys must be the class ids 0..1")


def yolo_names_boolean(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: [a, no]\n"), "class name False is not a string")


def yolo_names_duplicate(tmp_path):
    return (*_yolo_yaml(tmp_path, "names: [a, a]\n"), "duplicate class names: a")


def yolo_nc_disagrees(tmp_path):
    return (*_yolo_yaml(tmp_path, "nc: 3\nnames: [a, b]\n"), "nc is 3 but 'names' has 2 entries")


def yolo_yaml_is_a_folder(tmp_path):
    spec = _yolo(tmp_path, classes=None)
    (tmp_path / "data.yaml").mkdir()
    return spec, "data.yaml", "is a folder, not a file"


def yolo_folder_link_loops(tmp_path):
    (tmp_path / "y").symlink_to(tmp_path / "y")
    return f"yolo:{tmp_path / 'y'}", "y", "symbolic link that loops"


def spec_unknown_home(tmp_path):
    return "voc:~no-such-user-dcbench/x", "~no-such-user-dcbench", "cannot expand"


CASES = [
    coco_duplicate_image_id,
    coco_duplicate_annotation_ids,
    coco_duplicate_category_id,
    coco_list_image_id,
    coco_bool_image_id,
    coco_dict_annotation_id,
    coco_list_image_id_in_annotation,
    coco_bool_category_id,
    coco_string_bbox,
    coco_string_bbox_entry,
    coco_word_bbox_entry,
    coco_nan_bbox,
    coco_infinite_bbox,
    coco_overflowing_bbox,
    coco_fractional_width,
    coco_string_height,
    coco_infinite_width,
    coco_image_entry_not_an_object,
    coco_annotation_not_an_object,
    coco_file_name_not_a_string,
    coco_category_name_not_a_string,
    coco_string_iscrowd,
    coco_deep_json,
    coco_empty_file,
    coco_not_utf8,
    coco_json_is_a_folder,
    coco_json_link_loops,
    coco_image_link_loops,
    voc_nan_coordinate,
    voc_overflowing_coordinate,
    voc_infinite_width,
    voc_nan_height,
    voc_fractional_width,
    voc_unknown_xml_encoding,
    voc_xml_not_utf8,
    voc_empty_xml,
    voc_split_file_not_utf8,
    voc_annotation_is_a_folder,
    voc_listed_annotation_is_a_folder,
    voc_empty_split_file,
    voc_split_lists_an_image_twice,
    voc_difficult_not_a_flag,
    voc_folder_link_loops,
    voc_image_link_loops,
    voc_annotation_link_loops,
    voc_classes_link_loops,
    voc_classes_is_a_folder,
    yolo_nan_label,
    yolo_overflowing_label,
    yolo_label_not_utf8,
    yolo_label_is_a_folder,
    yolo_label_link_loops,
    yolo_labels_folder_is_a_file,
    yolo_two_images_one_label,
    yolo_image_link_loops,
    coco_image_folder_link_loops,
    yolo_classes_link_loops,
    yolo_classes_not_utf8,
    yolo_empty_classes,
    yolo_yaml_not_utf8,
    yolo_yaml_invalid,
    yolo_yaml_not_a_mapping,
    yolo_yaml_bad_date,
    yolo_yaml_deep,
    yolo_names_a_string,
    yolo_names_a_number,
    yolo_names_mixed_keys,
    yolo_names_string_keys,
    yolo_names_with_a_gap,
    yolo_names_boolean,
    yolo_names_duplicate,
    yolo_nc_disagrees,
    yolo_yaml_is_a_folder,
    yolo_folder_link_loops,
    spec_unknown_home,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
@pytest.mark.slow
def test_a_bad_file_is_one_line_naming_it(case, tmp_path, capsys):
    spec, name, problem = case(tmp_path)
    status = main(["data", "check", spec])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert name in lines[0] and problem in lines[0], lines[0]


# ------------------------------------------------------------------------------------------ silently wrong numbers


def test_duplicate_coco_image_ids_never_move_boxes_between_images(tmp_path):
    # two images share id 7: 9 annotations used to become 10 boxes, the shared id's boxes on both images
    data = _coco_data(3)
    data["images"][1]["id"] = data["images"][0]["id"] = 7
    data["annotations"] = [
        {"id": k, "image_id": 7 if k < 5 else 3, "category_id": 1, "bbox": [1, 2, 10, 10]} for k in range(9)
    ]
    with pytest.raises(DatasetError, match=r"instances\.json: duplicate image id 7 \(file_names i0\.png, i1\.png\)"):
        load_dataset(_coco(tmp_path, data, n_images=3))


def test_a_nan_bbox_is_named_with_its_values(tmp_path):
    text = json.dumps(_coco_data(1)).replace('"bbox": [1, 2, 10, 10]', '"bbox": [NaN, 2, 10, 10]')
    with pytest.raises(DatasetError, match=r"instances\.json: annotation 1 has a non-finite bbox \[nan, 2, 10, 10\]"):
        load_dataset(_coco(tmp_path, text=text))


def test_a_missing_annotation_id_is_allowed_and_named_by_position(tmp_path):
    data = _coco_data(2)
    for ann in data["annotations"]:
        del ann["id"]
    ds = load_dataset(_coco(tmp_path, data, n_images=2))
    assert ds.n_boxes == 2
    data["annotations"][1]["bbox"] = [1, 2, "x", 4]
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"annotations\[1\] has an invalid bbox"):
        load_dataset(f"coco:{tmp_path / 'instances.json'}")


def test_integral_float_sizes_and_utf8_bom_files_are_read(tmp_path):
    data = _coco_data(1)
    data["images"][0]["width"] = 64.0  # some exporters write every number as a float
    (tmp_path / "instances.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    write_png(tmp_path / "i0.png")
    ds = load_dataset(f"coco:{tmp_path / 'instances.json'}")
    assert ds.images[0].width == 64 and ds.n_boxes == 1
    y = tmp_path / "y"
    _yolo(y, classes=None)
    (y / "classes.txt").write_bytes(b"\xef\xbb\xbfa\nb\n")  # Windows Notepad's BOM is not part of the first name
    assert load_dataset(f"yolo:{y}").categories == ["a", "b"]


def test_yolo_names_mapping_in_id_order_and_numbers_as_names(tmp_path):
    spec, _ = _yolo_yaml(tmp_path, "nc: 2\nnames: {1: b, 0: a}\n")
    assert load_dataset(spec).categories == ["a", "b"]
    (tmp_path / "data.yaml").write_text("names: [0, 1]\n")
    assert load_dataset(spec).categories == ["0", "1"]


MARKUP_CLASS = "[bold]x[/]"
MARKUP_FILE = "[red]a.png"


def test_names_that_look_like_markup_round_trip_verbatim(tmp_path):
    voc = tmp_path / "voc"
    write_png(voc / "JPEGImages" / MARKUP_FILE)
    write_voc_xml(voc / "Annotations" / "a.xml", MARKUP_FILE, [(MARKUP_CLASS, 1, 1, 5, 5)])
    ds = load_dataset(f"voc:{voc}")
    assert ds.categories == [MARKUP_CLASS] and ds.images[0].file.name == MARKUP_FILE

    coco = tmp_path / "coco"
    write_png(coco / MARKUP_FILE)
    data = _coco_data(1)
    data["images"][0]["file_name"] = MARKUP_FILE
    data["categories"][0]["name"] = MARKUP_CLASS
    (coco / "instances.json").write_text(json.dumps(data))
    ds = load_dataset(f"coco:{coco / 'instances.json'}")
    assert ds.categories == [MARKUP_CLASS] and ds.images[0].file.name == MARKUP_FILE

    yolo = tmp_path / "yolo"
    write_png(yolo / "images" / MARKUP_FILE)
    (yolo / "labels").mkdir()
    (yolo / "labels" / "[red]a.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (yolo / "classes.txt").write_text(f"a\n{MARKUP_CLASS}\n")
    ds = load_dataset(f"yolo:{yolo}")
    assert ds.categories == ["a", MARKUP_CLASS] and ds.images[0].file.name == MARKUP_FILE
    assert ds.images[0].labels.tolist() == [1]
    (yolo / "data.yaml").write_text(f"names: ['{MARKUP_CLASS}']\n")
    (yolo / "classes.txt").unlink()
    (yolo / "labels" / "[red]a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert load_dataset(f"yolo:{yolo}").categories == [MARKUP_CLASS]


def test_a_symlinked_dataset_folder_that_does_not_loop_still_reads(tiny_voc, tmp_path):
    os.symlink(tiny_voc, tmp_path / "linked")
    assert len(load_dataset(f"voc:{tmp_path / 'linked'}")) == 4


# ------------------------------------------------------------------------------------------- train/test class lists


def _voc_with(tmp_path, name: str, classes: list[str], objects: list[str]):
    root = tmp_path / name
    write_png(root / "JPEGImages" / "a.png")
    write_voc_xml(root / "Annotations" / "a.xml", "a.png", [(o, 1, 1, 5, 5) for o in objects])
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return load_dataset(f"voc:{root}")


def test_same_class_lists_give_no_note(tmp_path, tiny_voc):
    train = _voc_with(tmp_path, "tr", ["cat", "dog"], ["cat"])
    test = _voc_with(tmp_path, "te", ["cat", "dog"], ["dog"])
    tt = resolve_train_test(train, test)
    assert tt.notes == [] and set(tt.as_dict()) == {"train", "test", "how"}
    assert resolve_train_test(load_dataset(f"voc:{tiny_voc}")).notes == []


def test_a_test_set_with_fewer_classes_is_noted(tmp_path):
    train = _voc_with(tmp_path, "tr", ["cat", "dog", "cow"], ["cat"])
    test = _voc_with(tmp_path, "te", ["cat"], ["cat"])
    tt = resolve_train_test(train, test)
    assert len(tt.notes) == 1 and "dog, cow" in tt.notes[0] and "\n" not in tt.notes[0]
    assert tt.test.categories == ["cat", "dog", "cow"]
    assert set(tt.as_dict()) == {"train", "test", "how"}


def test_a_test_set_in_another_order_is_noted(tmp_path):
    train = _voc_with(tmp_path, "tr", ["cat", "dog"], ["cat"])
    test = _voc_with(tmp_path, "te", ["dog", "cat"], ["dog"])
    tt = resolve_train_test(train, test)
    assert len(tt.notes) == 1 and "order" in tt.notes[0] and "dog, cat" in tt.notes[0]
    assert tt.test.images[0].labels.tolist() == [1]  # dog, remapped to the training index


def test_test_classes_unknown_to_training_are_still_an_error(tmp_path):
    train = _voc_with(tmp_path, "tr", ["cat"], ["cat"])
    test = _voc_with(tmp_path, "te", ["cat", "emu"], ["emu"])
    with pytest.raises(DatasetError, match="test classes not in the training set: emu"):
        resolve_train_test(train, test)
