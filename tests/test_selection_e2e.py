"""Uniform, K-Center and Herding through ``dcbench run`` with the smoke protocol; teacher and features reused."""

import json

import pytest

pytest.importorskip("ultralytics")

from dcbench.cli.app import main  # noqa: E402

SMALL = "shapes:?n_train=120&n_test=30&size=64&max_extent=28"


def _results(out):
    return {p.parent.name: json.loads(p.read_text()) for p in out.rglob("result.json")}


@pytest.mark.slow
def test_uniform_kcenter_herding_end_to_end(tmp_path):
    out = tmp_path / "runs"
    base = [
        "run",
        "--detector",
        "yolov3-tiny",
        "--ratio",
        "0.1",
        "--protocol",
        "smoke",
        "--dataset",
        SMALL,
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    for method in ("uniform", "kcenter", "herding"):
        assert main(base + ["--method", method]) == 0, method
    results = {r["config"]["method"]: r for r in _results(out).values()}
    assert set(results) == {"uniform", "kcenter", "herding"}
    assert all(r["budget"] == 12 and r["condensed"]["images"] == 12 for r in results.values())
    assert results["uniform"]["teacher"] is None
    # one teacher for both feature methods; features extracted once
    assert results["kcenter"]["teacher"]["source"] == "trained"
    assert results["herding"]["teacher"]["source"] == "cached"
    assert results["kcenter"]["teacher"]["key"] == results["herding"]["teacher"]["key"]
    fk, fh = (results[m]["condensed"]["manifest"]["features"] for m in ("kcenter", "herding"))
    assert fk["extractor"] == "teacher" and fk["cached"] is False and fh["cached"] is True
    assert fk["cache_key"] == fh["cache_key"] and "fetch_s" in results["kcenter"]["timings"]


def test_missing_resnet_weights_is_a_clear_error(tmp_path, capsys):
    assert (
        main(
            [
                "run",
                "--method",
                "kcenter",
                "-O",
                f"extractor=resnet50:{tmp_path}/none.pth",
                "--protocol",
                "smoke",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "none.pth: ResNet-50 weights file not found" in capsys.readouterr().err
