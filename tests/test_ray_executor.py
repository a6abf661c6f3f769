"""The Ray executor on a private local instance bound to 127.0.0.1 with 2 CPUs gives the same results and tables
as the local executor, with one teacher and one condense task per shared piece of work."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("ray")
pytest.importorskip("ultralytics")
pytestmark = pytest.mark.slow

from tests.test_matrix import SMOKE_SPEC, _tables, write_spec  # noqa: E402


def _run(spec, out, cache, *extra):
    env = {
        **os.environ,
        "DCBENCH_CACHE": str(cache),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "dcbench", "matrix", str(spec), "--out", str(out), "--device", "cpu", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stderr


def test_ray_executor_matches_the_local_executor(tmp_path):
    spec = write_spec(tmp_path, SMOKE_SPEC)  # the 2 x 2 x 2 spec the resume test uses
    _run(spec, tmp_path / "local", tmp_path / "cache-local")
    log = _run(spec, tmp_path / "ray", tmp_path / "cache-ray", "--executor", "ray", "--num-cpus", "2")
    # a teacher per detector (full-data rows and herding share it); Random's two sets serve both detectors
    assert "10 cells as 2 teacher, 6 condense and 10 evaluate tasks" in log
    local = {f.parent.name: json.loads(f.read_text()) for f in (tmp_path / "local").glob("*/result.json")}
    ray = {f.parent.name: json.loads(f.read_text()) for f in (tmp_path / "ray").glob("*/result.json")}
    assert set(local) == set(ray) and len(local) == 10
    assert all(local[c]["metrics"] == ray[c]["metrics"] for c in local)
    # every set was condensed by its own Ray task: each cell reuses it and still records what making it took
    made = [r["condensed"] for r in ray.values() if r["condensed"].get("key")]
    assert len(made) == 8 and all(c["reused"] and "condense_s" in c["timings"] for c in made)
    assert _tables(tmp_path / "ray", tmp_path / "lb-ray") == _tables(tmp_path / "local", tmp_path / "lb-local")
    # a second run finds everything done and starts nothing
    assert "(10 done); running 0" in _run(spec, tmp_path / "ray", tmp_path / "cache-ray", "--executor", "ray")


def test_ray_executor_rejects_options_it_does_not_have(tmp_path, capsys):
    from dcbench.cli.app import main

    spec = write_spec(tmp_path, SMOKE_SPEC)
    assert main(["matrix", str(spec), "--out", str(tmp_path / "o"), "--address", "127.0.0.1:1"]) == 2
    assert "--address does not apply to the local executor" in capsys.readouterr().err
