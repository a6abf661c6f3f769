"""The test suite never writes into the user's dcbench cache, and leaves no cache of its own behind."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_suite_does_not_use_the_users_cache(tmp_path):
    user_cache = tmp_path / "user-cache"
    scratch = tmp_path / "scratch"  # the session's TMPDIR: what the run leaves there is what it leaks
    scratch.mkdir()
    probe = Path(__file__).parent / "_probe_cache_test.py"
    probe.write_text(
        textwrap.dedent("""
        import os

        def test_probe():
            from dcbench.data.shapes import ShapesConfig, shapes_dataset

            shapes_dataset(ShapesConfig(n_train=2, n_test=1, size=32, min_extent=8, max_extent=12))
            print("CACHE=" + os.environ["DCBENCH_CACHE"])
    """)
    )
    try:
        env = {**os.environ, "DCBENCH_CACHE": str(user_cache), "TMPDIR": str(scratch)}
        for set_by_this_session in ("DCBENCH_TEST_CACHE", "YOLO_CONFIG_DIR"):
            env.pop(set_by_this_session, None)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(probe)],
            capture_output=True,
            text=True,
            env=env,
            cwd=Path(__file__).parents[1],
            timeout=120,
        )
    finally:
        probe.unlink()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CACHE=" in run.stdout and f"CACHE={user_cache}" not in run.stdout
    assert not user_cache.exists() or not any(user_cache.rglob("*"))
    session_cache = Path(run.stdout.split("CACHE=")[1].split()[0])
    assert session_cache.parent == scratch and not session_cache.exists()
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("dcbench")]
