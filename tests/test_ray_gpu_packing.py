"""``gpus_per_cell`` packs Ray training tasks on a GPU. On a private instance declaring one *logical* GPU (this
machine has none), four tasks at 0.25 run at once and tasks at 1 one at a time; a task on a logical GPU without
CUDA still works on the CPU. The tasks are the executor's own wrapper around a probe, not trained detectors."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from dcbench.errors import ConfigError
from dcbench.harness.matrix import _gpus_per_cell, load_spec

SPEC = """
name = "packed"
datasets = ["shapes"]
detectors = ["yolo11n"]
ratios = [0.01]
seeds = [0]
gpus_per_cell = {value}

[[methods]]
name = "random"
"""


# -- the spec key ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [(0.25, 0.25), (1, 1.0), (2, 2.0), (2.0, 2.0)])
def test_gpus_per_cell_takes_shares_and_whole_gpus(value, expected):
    assert _gpus_per_cell({"gpus_per_cell": value}, Path("s.toml")) == expected
    assert _gpus_per_cell({}, Path("s.toml")) == 1.0


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5", "0.00001", '"half"', "true", "inf"])
def test_a_bad_gpus_per_cell_is_one_line_naming_the_spec(tmp_path, value):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(value=value))
    with pytest.raises(ConfigError) as err:
        load_spec(path)  # refused before any dataset is loaded
    assert str(err.value).startswith(f"{path}: 'gpus_per_cell'") and "\n" not in str(err.value)


def _plan(gpus_per_cell: float):
    from dcbench.runner import MatrixPlan

    cell = SimpleNamespace(cell_name=lambda: "c")
    return MatrixPlan(SimpleNamespace(gpus_per_cell=gpus_per_cell), [cell], {"c": "pending"}, "out", Path("out"))


def test_run_plan_hands_the_spec_value_to_an_executor_that_takes_it(monkeypatch):
    import dcbench.harness.executors as executors
    from dcbench.progress import Reporter
    from dcbench.runner import run_plan

    seen: dict = {}

    def packing(cells, out, *, device, reporter=None, on_done=None, gpus_per_cell=1.0):
        seen["gpus_per_cell"] = gpus_per_cell
        return []

    def sequential(cells, out, *, device, reporter=None, on_done=None):
        return []

    notes: list[str] = []
    reporter = Reporter()
    monkeypatch.setattr(reporter, "note", notes.append)
    monkeypatch.setattr(executors, "get_executor", lambda name: {"ray": packing, "local": sequential}[name])
    run_plan(_plan(0.25), executor="ray")
    assert seen == {"gpus_per_cell": 0.25}
    run_plan(_plan(0.25), executor="local", reporter=reporter)  # runs, one cell at a time: said, not refused
    assert notes == ["gpus_per_cell = 0.25 applies to the ray executor; the local executor ignores it"]


# -- packing on Ray's logical GPUs ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_logical_gpu():
    ray = pytest.importorskip("ray")
    from dcbench.harness.executors.ray_executor import RAY_ENV

    for k, v in RAY_ENV.items():
        os.environ.setdefault(k, v)
    # logical resources: Ray schedules by them whatever the hardware; 4 CPUs as each training task takes one
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()


def _probe(together: int):
    """A stage that marks its start, waits (60 s at most) until ``together`` tasks have started, and returns its
    device and how many tasks were running when it went on. A task cannot end before the others started, so at
    the last one's start all ``together`` run at once. Made in a function so Ray ships it by value."""

    def probe(name, folder, device, *_):
        folder = Path(folder)
        (folder / f"{name}.start").touch()
        deadline = time.monotonic() + 60
        while len(list(folder.glob("*.start"))) < together and time.monotonic() < deadline:
            time.sleep(0.02)
        running = len(list(folder.glob("*.start"))) - len(list(folder.glob("*.end")))
        time.sleep(0.2)  # long enough for a task that could run beside it to start
        (folder / f"{name}.end").touch()
        return device, running

    return probe


def _run(ray, folder: Path, gpus_per_cell: float, tasks: int, together: int) -> list[tuple[str, int]]:
    from dcbench.harness.executors.ray_executor import stage_task, train_resources

    task = stage_task(_probe(together), train_resources(1, gpus_per_cell))
    return ray.get([task.remote(f"cell{i}", str(folder), "cuda") for i in range(tasks)], timeout=180)


def _real_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.slow  # a Ray instance starts
def test_a_quarter_gpu_per_cell_runs_four_cells_on_one_gpu(one_logical_gpu, tmp_path):
    started = time.monotonic()
    results = _run(one_logical_gpu, tmp_path, 0.25, tasks=4, together=4)
    assert max(running for _, running in results) == 4
    assert time.monotonic() - started < 60  # not the probe's deadline: they really met
    # the logical GPU asked for "cuda"; the task got what this machine has
    assert {device for device, _ in results} == {_real_device()}


@pytest.mark.slow  # a Ray instance starts
def test_a_whole_gpu_per_cell_runs_one_at_a_time(one_logical_gpu, tmp_path):
    results = _run(one_logical_gpu, tmp_path, 1, tasks=3, together=1)
    assert [running for _, running in results] == [1, 1, 1]


@pytest.mark.slow  # a Ray instance starts
def test_more_gpus_per_cell_than_a_node_has_is_refused(one_logical_gpu):
    from dcbench.harness.executors.ray_executor import _check_fits

    _check_fits(1)
    with pytest.raises(ConfigError, match="gpus_per_cell = 2, but no node of the Ray cluster has more than 1"):
        _check_fits(2)
