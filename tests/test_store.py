"""Results and caches in a store (an fsspec URL) instead of a shared disk: the marker-last push and pull, the driver's
mirror of result files, the local executor into a ``file://`` store, and a two-node Ray cluster on this machine whose
nodes share nothing but the store, giving the same results and tables as the local executor."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcbench.errors import ConfigError
from dcbench.harness.executors.ray_executor import RAY_ENV  # what the executor sets: no telemetry, loopback only
from dcbench.store import Store, is_url, node_root

SPEC = """
name = "store-smoke"
protocol = "smoke"
datasets = ["shapes:?n_train=40&n_test=12&size=64&min_extent=8&max_extent=30"]
detectors = ["yolov3-tiny"]
ratios = [0.2]
seeds = [0]
full_data = true

[[methods]]
name = "random"

[[methods]]
name = "herding"

[[methods]]
name = "random"
labels = "teacher"
"""


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# -- the store itself (no training) -------------------------------------------------------------------------------
def test_urls_and_paths_are_told_apart():
    assert is_url("s3://bucket/prefix") and is_url("file:///tmp/x")
    assert not is_url("runs/x") and not is_url(Path("/tmp/x"))


def test_a_store_nobody_can_open_is_one_config_error():
    with pytest.raises(ConfigError, match="nosuchscheme://bucket"):
        Store("nosuchscheme://bucket/x")


def test_push_writes_the_marker_last_and_a_pull_takes_only_complete_trees(tmp_path):
    store = Store(f"file://{tmp_path / 'store'}")
    key = f"{store.root}/condensed/a"
    local = _tree(tmp_path / "node1" / "a", {"condensed/x.txt": "1", "condensed/y.txt": "2", "condense.json": "v1"})
    # an interrupted push: files without the marker are not a set
    Store.put(store.fs, local / "condensed" / "x.txt", f"{key}/condensed/x.txt")
    assert not store.pull_tree(store.fs, key, tmp_path / "node2" / "a", "condense.json")
    assert not (tmp_path / "node2" / "a").exists()

    store.push_tree(store.fs, local, key, "condense.json")
    pulled = tmp_path / "node2" / "a"
    assert store.pull_tree(store.fs, key, pulled, "condense.json")
    assert sorted(p.relative_to(pulled).as_posix() for p in pulled.rglob("*") if p.is_file()) == [
        "condense.json",
        "condensed/x.txt",
        "condensed/y.txt",
    ]
    # a new version replaces the old one whole: files it no longer has go from the store too
    (local / "condensed" / "y.txt").unlink()
    (local / "condense.json").write_text("v2")
    store.push_tree(store.fs, local, key, "condense.json")
    assert not store.fs.exists(f"{key}/condensed/y.txt")
    assert store.pull_tree(store.fs, key, pulled, "condense.json")
    assert (pulled / "condense.json").read_text() == "v2" and not (pulled / "condensed" / "y.txt").exists()
    assert not list(tmp_path.rglob("*.partial*"))  # nothing in flight is left anywhere


def test_the_driver_mirror_follows_the_store(tmp_path):
    store = Store(f"file://{tmp_path / 'store'}")
    _tree(tmp_path / "store", {"c1/result.json": "{}", "c2/failed.json": "{}", "condensed/s/condense.json": "{}"})
    mirror = store.sync_results(tmp_path / "mirror")
    assert sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*.json")) == [
        "c1/result.json",
        "c2/failed.json",
    ]
    (tmp_path / "store" / "c2" / "failed.json").unlink()  # retried and finished elsewhere
    _tree(tmp_path / "store", {"c2/result.json": "{}"})
    store.sync_results(mirror)
    assert not (mirror / "c2" / "failed.json").exists() and (mirror / "c2" / "result.json").is_file()


def test_a_task_pushes_what_it_changed_and_a_result_replaces_the_failure(tmp_path, monkeypatch):
    from dcbench.harness.executors.stored import markers, push_changed

    monkeypatch.setenv("DCBENCH_CACHE", str(tmp_path / "cache"))
    store, out, remote = Store(f"file://{tmp_path / 'store'}"), tmp_path / "out", tmp_path / "store"
    _tree(out, {"c/failed.json": "{}", "condensed/s/condense.json": "old"})
    push_changed(store, out, {})
    assert (remote / "c" / "failed.json").is_file() and (remote / "condensed" / "s" / "condense.json").is_file()
    (remote / "condensed" / "s" / "condense.json").write_text("newer, from another node")
    before = markers(out)
    (out / "c" / "failed.json").unlink()  # the retry succeeded
    _tree(out, {"c/student/w.pt": "w", "c/result.json": "{}"})
    push_changed(store, out, before)
    assert sorted(p.relative_to(remote / "c").as_posix() for p in (remote / "c").rglob("*") if p.is_file()) == [
        "result.json",
        "student/w.pt",
    ]
    # a copy this task did not change is never pushed back over what the store holds now
    assert (remote / "condensed" / "s" / "condense.json").read_text() == "newer, from another node"


def test_nodes_get_their_own_folder_even_on_one_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("DCBENCH_NODE_DIR", str(tmp_path))
    assert node_root("a" * 56) != node_root("b" * 56) and node_root("local").parent == tmp_path


def test_a_matrix_with_a_bad_store_fails_before_the_spec_loads(tmp_path, capsys):
    from dcbench.cli.app import main

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    assert main(["matrix", str(spec), "--out", "nosuchscheme://bucket/x"]) == 2
    assert "nosuchscheme://bucket/x" in capsys.readouterr().err


# -- running into a store -------------------------------------------------------------------------------------------
pytest.importorskip("ultralytics")


def _dcbench(*args: str, env: dict[str, str], timeout: int = 900) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dcbench", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _env(cache: Path, nodes: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("YOLO_CONFIG_DIR", "DCBENCH_CACHE")}
    env.update(RAY_ENV, DCBENCH_CACHE=str(cache), OMP_NUM_THREADS="1")
    if nodes is not None:
        env["DCBENCH_NODE_DIR"] = str(nodes)
    return env


def _results(folder: Path) -> dict[str, dict]:
    """What must agree between two runs of a spec: each cell's metrics and configuration (not times, machines,
    paths or whether a teacher was trained or found cached)."""
    found = {}
    for f in folder.glob("*/result.json"):
        r = json.loads(f.read_text())
        found[f.parent.name] = {"cell": r["cell"], "config": r["config"], "metrics": r["metrics"]}
    return found


@pytest.fixture
def reference(tmp_path) -> Path:
    """The spec run by the local executor into a local folder."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    _dcbench("matrix", str(spec), "--out", str(tmp_path / "local"), "--device", "cpu", env=_env(tmp_path / "cache"))
    return tmp_path / "local"


@pytest.mark.slow
def test_the_local_executor_into_a_store_matches_a_local_folder_and_resumes(tmp_path, reference):
    from tests.test_matrix import _tables

    url = f"file://{tmp_path / 'store'}"
    env = _env(tmp_path / "cache-driver", tmp_path / "nodes")
    _dcbench("matrix", str(tmp_path / "spec.toml"), "--out", url, "--device", "cpu", env=env)
    assert _results(tmp_path / "store") == _results(reference) and len(_results(reference)) == 4
    store = tmp_path / "store"
    assert [p.name for p in (store / "cache" / "teachers").iterdir()]
    # herding's features, with what their extraction took beside them (so a node that pulls them is charged it)
    assert {p.name.split(".", 1)[1] for p in (store / "cache" / "features").iterdir()} == {"npy", "cost.json", "sha256"}
    assert len(list((store / "condensed").glob("*/condense.json"))) == 3  # random, herding, random's teacher labels
    assert "(4 done); running 0" in _dcbench("matrix", str(tmp_path / "spec.toml"), "--out", url, env=env)
    assert _tables(url, tmp_path / "lb-store") == _tables(reference, tmp_path / "lb-local")


@pytest.fixture
def two_nodes(monkeypatch):
    """A Ray cluster of two nodes of one CPU each on 127.0.0.1. The nodes inherit this process's environment when
    they start: without its dcbench cache and Ultralytics folder, so that they share no path by accident."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    saved = {k: os.environ.pop(k) for k in ("DCBENCH_CACHE", "YOLO_CONFIG_DIR") if k in os.environ}
    try:
        args = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
        cluster = Cluster(initialize_head=True, head_node_args=args)
        cluster.add_node(**args)
        cluster.wait_for_nodes()
    finally:
        os.environ.update(saved)
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_a_two_node_cluster_sharing_only_a_store_matches_the_local_executor(tmp_path, reference, two_nodes):
    from tests.test_matrix import _tables

    url, nodes = f"file://{tmp_path / 'store'}", tmp_path / "nodes"
    env = _env(tmp_path / "cache-driver", nodes)
    spec = str(tmp_path / "spec.toml")
    log = _dcbench(
        "matrix", spec, "--out", url, "--device", "cpu", "--executor", "ray", "--address", two_nodes.address, env=env
    )
    assert "4 cells as 1 teacher, 2 condense and 4 evaluate tasks" in log
    assert _results(tmp_path / "store") == _results(reference)
    assert _tables(url, tmp_path / "lb-ray") == _tables(reference, tmp_path / "lb-local")
    # both nodes worked, each in its own folder and cache; the driver's cache never held a teacher or features
    worked = sorted(p.name for p in nodes.iterdir())
    assert len(worked) == 2, worked
    assert all((nodes / n / "cache").is_dir() and (nodes / n / "out").is_dir() for n in worked)
    assert not (tmp_path / "cache-driver" / "teachers").exists()
    assert not (tmp_path / "cache-driver" / "features").exists()
    # the one teacher, trained on one node, is the store's; a node that needed it elsewhere pulled it from there
    stored = {p.name for p in (tmp_path / "store" / "cache" / "teachers").iterdir()}
    held = [{p.name for p in (nodes / n / "cache" / "teachers").glob("*")} for n in worked]
    assert len(stored) == 1 and set().union(*held) == stored
    log = _dcbench("matrix", spec, "--out", url, "--executor", "ray", "--address", two_nodes.address, env=env)
    assert "(4 done); running 0" in log
