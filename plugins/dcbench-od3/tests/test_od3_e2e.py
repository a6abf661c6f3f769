import json

import pytest

import dcbench_od3.plugin as plugin


@pytest.fixture
def od3_registered():
    """This checkout's plugin, registered for the CLI as an installed one would be (a no-op when it is installed)."""
    from dcbench.testing import registered

    with registered(plugin):
        yield


@pytest.mark.slow
def test_run_end_to_end_with_the_teacher_as_observer(tmp_path, dcbench_cache, od3_registered):
    pytest.importorskip("ultralytics")
    from dcbench.cli.app import main

    out = tmp_path / "runs"
    assert (
        main(
            [
                "run",
                "--method",
                "od3",
                "--detector",
                "yolov3-tiny",
                "--ratio",
                "0.05",
                "--protocol",
                "smoke",
                "--dataset",
                "shapes:?n_train=60&n_test=12&size=64&max_extent=28",
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    (f,) = out.rglob("result.json")
    result = json.loads(f.read_text())
    manifest = result["condensed"]["manifest"]
    assert result["method"]["name"] == "od3" and manifest["method"] == "od3" and manifest["kind"] == "synthesis"
    assert result["budget"] == 3 and result["condensed"]["images"] == 3
    assert "yolov3-tiny" in manifest["teacher"]["detector"] and manifest["canvas"] == 64
    assert manifest["totals"]["screen_passes"] > 0 and manifest["timings"]["screen_s"] > 0
    condensed = f.parent / result["condensed"]["path"]
    assert main(["show", str(condensed), "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"


def test_method_flags_reach_od3_and_a_typo_is_one_clear_line(tmp_path, capsys, od3_registered):
    from dcbench.cli.app import main
    from dcbench.cli.run_cmd import parse_extra_flags
    from dcbench_od3.method import OD3

    options = parse_extra_flags(["--screen-classes", "agnostic", "--no-screen", "--canvas", "96"])
    assert {k: OD3(**options).describe()[k] for k in options} == {
        "screen_classes": "agnostic",
        "screen": False,
        "canvas": 96,
    }
    assert (
        main(["run", "--method", "od3", "--no-scren", "--protocol", "smoke", "--out", str(tmp_path), "--device", "cpu"])
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown od3 option(s) scren" in err and "Traceback" not in err
