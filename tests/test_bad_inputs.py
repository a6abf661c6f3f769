"""A corpus of bad inputs: each gets a one-line error naming the file, a non-zero exit, and no traceback."""

import json

import pytest

from dcbench.cli.app import main
from tests.conftest import smoke_run, write_png, write_voc_xml


def _voc(tmp_path, objects, filename="a.png", image=True):
    if image:
        write_png(tmp_path / "JPEGImages" / "a.png")
    else:
        (tmp_path / "JPEGImages").mkdir(parents=True)
    write_voc_xml(tmp_path / "Annotations" / "a.xml", filename, objects)
    return f"voc:{tmp_path}"


def truncated_xml(tmp_path):
    spec = _voc(tmp_path, [("cat", 1, 1, 5, 5)])
    xml = tmp_path / "Annotations" / "a.xml"
    xml.write_text(xml.read_text()[:60])
    return spec, "a.xml", "malformed XML"


def missing_image(tmp_path):
    return _voc(tmp_path, [("cat", 1, 1, 5, 5)], image=False), "a.xml", "image file not found"


def unknown_class(tmp_path):
    spec = _voc(tmp_path, [("zebra", 1, 1, 5, 5)])
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    return spec, "a.xml", "unknown class 'zebra'"


def negative_box(tmp_path):
    return _voc(tmp_path, [("cat", 30, 5, 10, 20)]), "a.xml", "negative width"


def absurd_box(tmp_path):
    return _voc(tmp_path, [("cat", -200, 5, 10, 20)]), "a.xml", "outside the 64x48 image"


def traversal_path(tmp_path):
    return _voc(tmp_path, [("cat", 1, 1, 5, 5)], filename="../../etc/passwd"), "a.xml", "path traversal"


def empty_dataset(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    return f"voc:{tmp_path}", str(tmp_path), "no images"


def malformed_json(tmp_path):
    (tmp_path / "a.json").write_text('{"images": [')
    return f"coco:{tmp_path / 'a.json'}", "a.json", "malformed JSON"


def coco_unknown_category(tmp_path):
    write_png(tmp_path / "i.png")
    data = {
        "images": [{"id": 1, "file_name": "i.png", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [1, 1, 4, 4]}],
        "categories": [{"id": 1, "name": "a"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(data))
    return f"coco:{tmp_path / 'a.json'}", "a.json", "unknown category_id 5"


def yolo_bad_class(tmp_path):
    write_png(tmp_path / "images" / "x.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("3 0.5 0.5 0.1 0.1\n")
    (tmp_path / "classes.txt").write_text("a\nb\n")
    return f"yolo:{tmp_path}", "x.txt", "unknown class id 3"


def unreadable_image(tmp_path):
    spec = _voc(tmp_path, [("cat", 1, 1, 5, 5)])
    (tmp_path / "JPEGImages" / "a.png").write_bytes(b"not an image at all")
    return spec, "a.png", "unreadable image"


def unknown_dataset(tmp_path):
    return "shapez", "shapez", "did you mean 'shapes'"


CASES = [
    truncated_xml,
    missing_image,
    unknown_class,
    negative_box,
    absurd_box,
    traversal_path,
    empty_dataset,
    malformed_json,
    coco_unknown_category,
    yolo_bad_class,
    unreadable_image,
    unknown_dataset,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_gets_one_clear_line(case, tmp_path, capsys):
    spec, names, problem = case(tmp_path)
    status = main(["data", "check", spec])
    err = capsys.readouterr().err
    assert status != 0
    assert "Traceback" not in err
    # progress lines ("[dcbench] check images: ...", written when stderr is not a terminal) are not the error
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[dcbench] ")]
    assert len(lines) == 1, err
    assert names in lines[0] and problem in lines[0], lines[0]


@pytest.mark.parametrize("command", ["run", "matrix", "leaderboard"])
@pytest.mark.parametrize("kind", ["file", "under-a-file", "read-only"])
def test_an_unusable_output_path_is_one_line(command, kind, tmp_path, capsys, monkeypatch):
    import os
    import tempfile

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    target = {"file": a_file, "under-a-file": a_file / "below", "read-only": tmp_path / "ro"}[kind]
    if kind == "read-only":
        target.mkdir()
        target.chmod(0o555)
        if os.access(target, os.W_OK):  # root writes into read-only folders: refuse as the kernel would a user

            def refuse(*a, **k):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", refuse)
    argv = {
        "run": ["run", "--method", "random", "--protocol", "smoke", "--out", str(target)],
        "matrix": ["matrix", str(_spec(tmp_path)), "--out", str(target)],
        "leaderboard": ["leaderboard", str(_results(tmp_path)), "--out", str(target)],
    }[command]
    status = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and "Traceback" not in err and len(lines) == 1, err
    assert str(target) in lines[0]


def _spec(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "x"\nprotocol = "smoke"\ndatasets = ["shapes:?n_train=4&n_test=2&size=32&min_extent=8'
        '&max_extent=12"]\ndetectors = ["yolov3-tiny"]\nratios = [0.5]\nseeds = [0]\n'
        '[[methods]]\nname = "random"\n'
    )
    return spec


def _results(tmp_path):
    from tests.test_leaderboard import fake_result

    fake_result(tmp_path / "results", "random", 0.01, 0, 1.0)
    return tmp_path / "results"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--method", "nosuch"], "unknown method 'nosuch'"),
        (["--detector", "nosuch"], "unknown detector 'nosuch'"),
        (["--method", "dcod", "--no-fdb"], "unknown dcod option(s) fdb"),
        (["--method", "random", "--ratoi", "0.05"], "unknown option --ratoi (did you mean --ratio?)"),
        (["--method", "kcenter", "--extractr", "teacher"], "method 'kcenter' does not take option(s) extractr"),
    ],
)
@pytest.mark.slow
def test_a_bad_run_flag_is_one_line_and_leaves_no_cell_folder(argv, message, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", *argv, "--protocol", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "takes no arguments" not in err
    assert not out.exists() or not any(out.iterdir())


def test_show_on_a_folder_that_holds_no_condensed_set_says_so(tmp_path, capsys):
    set_dir = tmp_path / "condensed" / "shapes__random__r0.1__s0"
    (set_dir / "condensed").mkdir(parents=True)
    assert main(["show", str(set_dir), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert str(set_dir) in err and "not a dcbench condensed set (no manifest.json in it or in condensed/)" in err
    assert not (tmp_path / "g.png").exists()


@pytest.mark.slow
def test_run_says_where_the_condensed_set_is_what_the_scale_is_and_counts_epochs(tmp_path, capsys):
    assert main(smoke_run(tmp_path)) == 0
    captured = capsys.readouterr()
    assert "condensed set: " in captured.err and "0-100 scale" in captured.out
    assert "epoch 1/1" in captured.err  # the training counter names its unit
