"""``dcbench eval SET``: train a fresh detector on any set (a condensed set folder or a dataset spec) and score it
on the test set as a cell would; the result goes beside the cells' and into the same leaderboards."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from dcbench.cli import console
from dcbench.cli.protocol_flags import (
    BATCH,
    EPOCHS,
    IMGSZ,
    MIN_ITERATIONS,
    NOMINAL_BATCH,
    STUDENT_REPEATS,
    protocol_with,
)


def _metrics_table(result: Mapping[str, Any]) -> Table:
    from dcbench.evaluation.coco_eval import METRICS

    cfg = result["config"]
    ratio = f" @ {cfg['ratio']:g}" if cfg.get("ratio") is not None else ""
    title = (
        f"{result['method']['label']}{ratio} ({result['budget']} images) | {result['eval_detector']} | "
        f"{cfg['protocol']['protocol_id']} | seed {cfg['seed']}"
    )
    table = Table(
        *METRICS, title=title, title_justify="left", caption="COCO AP on a 0-100 scale", caption_justify="left"
    )
    table.add_row(*("-" if result["metrics"][m] is None else f"{result['metrics'][m]:.2f}" for m in METRICS))
    return table


def eval_set(
    set_spec: str = typer.Argument(
        ..., metavar="SET", help="A condensed set folder (with manifest.json or condense.json), or a dataset spec."
    ),
    detector: str = typer.Option("yolo11n", "--detector", "-d", help="Detector trained on the set."),
    train: str | None = typer.Option(
        None, "--train", help="The dataset the set stands for: the ratio is taken against it, its test split scores."
    ),
    test: str | None = typer.Option(None, "--test", help="Test set spec (default: the --train dataset's test split)."),
    protocol: str = typer.Option("quick", "--protocol", "-p", help="Training protocol preset: smoke, quick, paper."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the student's training."),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="Folder for the result."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: GPU when present)."),
    imgsz: int | None = IMGSZ,
    epochs: int | None = EPOCHS,
    batch: int | None = BATCH,
    min_iterations: int | None = MIN_ITERATIONS,
    student_repeats: int | None = STUDENT_REPEATS,
    nominal_batch: int | None = NOMINAL_BATCH,
    force: bool = typer.Option(False, "--force", help="Redo the evaluation even if its result exists."),
    evaluator: str | None = typer.Option(
        None, "--evaluator", help="With a predictions file: pycocotools or faster-coco-eval (default: dcbench's)."
    ),
    json_out: bool = typer.Option(False, "--json", help="With a predictions file: print the metrics as JSON."),
) -> None:
    """Train a fresh detector on SET and score it on the test set with the harness's student path and evaluator.

    The result is recorded as the method "external" (row "external:<set name>" in leaderboards) with the set's
    content fingerprint; an image of SET byte-identical to a test image is warned about and recorded.

    SET may also be a cell's predictions file (``runs/CELL/predictions.json``): it is scored again on the cell's
    test split (or --train's / --test's), nothing is trained or written.
    """
    if set_spec.endswith(".json") and Path(set_spec).is_file():
        _rescore(Path(set_spec), train, test, evaluator, json_out)
        return
    from dcbench.data.verify import verified
    from dcbench.device import resolve_device
    from dcbench.harness.external import EvalConfig, prepare_external, run_external
    from dcbench.io import usable_dir, writable_dir
    from dcbench.progress import Reporter

    out = usable_dir(out)
    # the overrides a spec's [protocol_overrides] names: the set is scored under the rule its table's cells had
    proto = protocol_with(
        protocol,
        imgsz=imgsz,
        epochs=epochs,
        batch=batch,
        min_iterations=min_iterations,
        student_repeats=student_repeats,
        nominal_batch=nominal_batch,
    )
    config = EvalConfig(set_spec, detector, proto, seed, train=train, test=test)
    inputs = prepare_external(config)  # every bad argument fails here, before anything is written
    reporter = Reporter(console=console.err)
    # the set's and the test split's images decoded before the student trains; a set is scored whole or not at all
    verified({"set": inputs.train, "test": inputs.test}, skip=False, reporter=reporter, skippable=False)
    cell_dir = out / inputs.cell_name()
    if console.shown_existing(cell_dir, force, _metrics_table):
        return
    writable_dir(out)
    resolved = resolve_device(device)
    console.info(f"evaluating {inputs.external.name} ({inputs.budget} images) as {cell_dir.name} on {resolved}")
    result = run_external(inputs, out, device=resolved, reporter=reporter)
    console.out.print(_metrics_table(result))
    console.info("time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in result["timings"].items()))
    console.info(f"result: {cell_dir / 'result.json'}")


def _rescore(predictions: Path, train: str | None, test: str | None, evaluator: str | None, json_out: bool) -> None:
    """Score a kept predictions file again, on the test split of --train / --test or, without them, of the cell whose
    result.json lies beside it."""
    from dcbench.api import read_result_record
    from dcbench.data.spec import load_dataset, resolve_train_test
    from dcbench.errors import ConfigError
    from dcbench.evaluation.coco_eval import ALL_METRICS, evaluate
    from dcbench.evaluation.predictions import read_predictions
    from dcbench.harness.cell import verified_split

    skip = False
    if train is None and test is None:
        beside = predictions.parent / "result.json"
        if not beside.is_file():
            raise ConfigError(f"{predictions}: no result.json beside it; give --train SPEC or --test SPEC")
        config = read_result_record(beside)["config"]
        train, test, skip = config.get("dataset"), config.get("test_dataset"), bool(config.get("skip_bad_images"))
    if train is not None:  # the test split exactly as the cell had it, bad images left out as it left them out
        split = resolve_train_test(load_dataset(train), load_dataset(test) if test else None)
        test_set = verified_split(split, skip)[0].test
    else:  # as a cell takes a separate test set: its test (or val) split when it has one
        whole = load_dataset(str(test))
        test_set = resolve_train_test(whole, whole).test
    metrics = evaluate(test_set, read_predictions(predictions, test_set), backend=evaluator)
    if json_out:
        console.out.print_json(json.dumps(metrics))
        return
    table = Table(*ALL_METRICS, title=f"{predictions} on {len(test_set)} test images", title_justify="left")
    table.add_row(*("-" if metrics[m] is None else f"{metrics[m]:.4f}" for m in ALL_METRICS))
    console.out.print(table)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_set)
