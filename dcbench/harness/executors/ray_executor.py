"""Ray executor: every cell becomes a chain of Ray tasks, teacher -> condense -> evaluate.

One teacher task per distinct teacher and one condense task per distinct condensed set, however many cells share
them; each evaluate task waits for its condensed set, each condense task for its teacher. Training tasks ask for
``gpus_per_cell`` GPUs (the matrix spec's key, default 1; 0.25 packs four tasks on one GPU) when the cluster has GPUs
(and the device is not ``cpu``); everything else asks for one CPU. With a local
``out``, workers write into the same results folder and caches as the local executor (a shared filesystem when the
cluster spans machines), with the same atomic files, so the two executors produce the same result files and can
resume each other's runs. With a store URL (``s3://...``, any fsspec URL) every task works in a node-local folder
and cache, pulling what it needs from the store and pushing what it made (``executors.stored``): the nodes share
nothing but the store.

Without ``--address`` a private local instance is started on 127.0.0.1 (no dashboard, no usage stats) and shut down
at the end.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dcbench.harness.executors.outcome import Outcome
from dcbench.harness.executors.stored import CONDENSE, TEACHER, execute_stored, workspace
from dcbench.harness.identity import CellConfig

if TYPE_CHECKING:
    from dcbench.progress import Reporter

# Ray reads these at import/start: no telemetry, no token auth on a loopback instance, and really bind to loopback
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_FORWARDED = ("DCBENCH_", "YOLO_")


def _stage_error(stage: str) -> str:
    """The exception being handled, as one line naming the stage, then its traceback."""
    import traceback

    return f"{stage}: {traceback.format_exc(limit=-8)}"


def _teacher_stage(config: CellConfig, out: str, device: str) -> dict:
    """Train (or find cached) the condensing detector's teacher. A failure does not stop the chain: the evaluate
    stage retries the cell in full, and the error travels with the chain into the cell's ``failed.json``."""
    from dcbench.harness.cell import fetch_cell_teacher, prepare

    try:
        with workspace(out, config, TEACHER):
            inputs = prepare(config)
            backend = inputs.evaluator if getattr(inputs.method, "student_is_teacher", False) else inputs.detector
            _, record = fetch_cell_teacher(config, inputs, backend, device=device)
        return {"teacher": record.get("key"), "errors": []}
    except Exception:  # noqa: BLE001 - recorded below, with the cell
        return {"teacher": None, "errors": [_stage_error("teacher stage")]}


def _condense_stage(config: CellConfig, out: str, device: str, teacher: dict | None) -> dict:
    from dcbench.harness.cell import condense_cell

    upstream = list((teacher or {}).get("errors", []))
    try:
        with workspace(out, config, CONDENSE) as local:
            condensed = condense_cell(config, local, device=device)[0]
        return {"condensed": str(condensed.path), "errors": upstream}
    except Exception:  # noqa: BLE001 - recorded below, with the cell
        return {"condensed": None, "errors": [*upstream, _stage_error("condense stage")]}


def _evaluate_stage(config: CellConfig, out: str, device: str, upstream: dict | None) -> Outcome:
    return execute_stored(config, out, device=device, upstream_errors=(upstream or {}).get("errors"))


def _start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address``, or start a private instance on 127.0.0.1; True when this call started Ray."""
    for k, v in RAY_ENV.items():
        os.environ.setdefault(k, v)
    import ray

    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED) or k in RAY_ENV}
    if address:
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            runtime_env={"env_vars": env},
            log_to_driver=False,
        )
    return True


def worker_device(device: str) -> str:
    """The device a task really has, decided in the task: ``cuda`` (Ray sets CUDA_VISIBLE_DEVICES to the GPU it
    assigned, so it is the first one visible) only where torch sees CUDA. A cluster may declare GPUs its nodes do
    not have (``ray start --num-gpus``, logical resources in tests): ``cpu`` then, not a CUDA error per cell."""
    if device == "cpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def stage_task(stage, resources: dict):
    """``stage(config, out, device, ...)`` as a Ray task asking for ``resources``, called with the device its
    worker really has (``worker_device``)."""
    import ray

    def on_device(config, out, device, *rest):
        return stage(config, out, worker_device(device), *rest)

    # ray's overloads cannot see through a resources dict built at run time
    return ray.remote(name=stage.__name__, **resources)(on_device)  # type: ignore[call-overload]


def train_resources(gpus: float, gpus_per_cell: float) -> dict:
    """What a training task asks for: ``gpus_per_cell`` GPUs (a share packs several tasks on one) and a CPU when
    the cluster has GPUs, else one CPU."""
    return {"num_gpus": gpus_per_cell, "num_cpus": 1} if gpus else {"num_cpus": 1}


def _check_fits(gpus_per_cell: float) -> None:
    """A task asking for more GPUs than any node has would wait for ever: one line instead."""
    import ray

    from dcbench.errors import ConfigError

    largest = max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if gpus_per_cell > largest:
        raise ConfigError(
            f"gpus_per_cell = {gpus_per_cell:g}, but no node of the Ray cluster has more than {largest:g}"
        )


def _submit(cells: list[CellConfig], out: Path | str, gpus: float, gpus_per_cell: float = 1.0) -> tuple[dict, int, int]:
    """Every cell as a chain of tasks: one teacher task per distinct teacher and one condense task per distinct
    condensed set, however many cells share them. Returns the evaluate tasks and the two counts."""
    task_device = "cuda" if gpus else "cpu"  # what the task asks for; worker_device decides in the task
    train_res = train_resources(gpus, gpus_per_cell)
    teacher_task = stage_task(_teacher_stage, train_res)
    condense_task = stage_task(_condense_stage, train_res)
    evaluate_task = stage_task(_evaluate_stage, train_res)
    teachers: dict[tuple, object] = {}
    condensed: dict[str, object] = {}
    pending = {}
    for cell in cells:
        t_ref = None
        if cell.student_is_teacher() or cell.uses_teacher():
            key = _teacher_key(cell)
            if key not in teachers:
                teachers[key] = teacher_task.remote(cell, str(out), task_device)
            t_ref = teachers[key]
        if cell.student_is_teacher():
            c_ref = t_ref
        else:
            name = cell.condense_name()
            if name not in condensed:
                condensed[name] = condense_task.remote(cell, str(out), task_device, t_ref)
            c_ref = condensed[name]
        pending[evaluate_task.remote(cell, str(out), task_device, c_ref)] = cell
    return pending, len(teachers), len(condensed)


def _teacher_key(cell: CellConfig) -> tuple:
    det = cell.evaluation_detector if cell.student_is_teacher() else cell.detector
    return (cell.dataset, cell.test_dataset, det, cell.protocol.protocol_id, cell.seed, cell.teacher_checkpoint)


def run_ray(
    cells: list[CellConfig],
    out: Path | str,
    *,
    device: str | None,
    reporter: Reporter | None = None,
    on_done=None,
    address: str | None = None,
    num_cpus: int | None = None,
    gpus_per_cell: float = 1.0,
) -> list[Outcome]:
    import ray

    started_here = _start_ray(address, num_cpus)
    try:
        # None: the cluster's GPUs when it has any (the driver may well be a CPU-only machine); "cpu": never
        gpus = ray.cluster_resources().get("GPU", 0) if device != "cpu" else 0
        if gpus:
            _check_fits(gpus_per_cell)
        pending, n_teachers, n_condense = _submit(cells, out, gpus, gpus_per_cell)
        if reporter is not None:
            per_task = f", {gpus_per_cell:g} GPU per training task" if gpus else ""
            reporter.note(
                f"ray: {len(cells)} cells as {n_teachers} teacher, {n_condense} condense and "
                f"{len(cells)} evaluate tasks ({gpus:g} GPUs{per_task})"
            )
        results: dict[str, Outcome] = {}
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            outcome = ray.get(done[0])
            results[outcome.cell] = outcome
            if on_done is not None:
                on_done(outcome)
        return [results[c.cell_name()] for c in cells]
    finally:
        if started_here:
            ray.shutdown()
