"""``dcbench run``: one cell, end to end (condense, train a fresh detector, evaluate on the real test set)."""

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
)
from dcbench.errors import ConfigError


def parse_options(pairs: list[str]) -> dict:
    """``["iterations=300", "fbd=false"]`` -> ``{"iterations": 300, "fbd": False}`` (values parsed as JSON when they
    are JSON, else kept as strings)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"option {pair!r} is not KEY=VALUE")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    return options


def parse_extra_flags(args: list[str]) -> dict:
    """Flags ``run`` does not know are the method's options: ``--no-fbd`` -> fbd=False, ``--iterations 50`` or
    ``--iterations=50`` -> iterations=50, a bare ``--flip`` -> flip=True. The method validates the names."""
    pairs, i = [], 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) < 3:
            raise ConfigError(f"unexpected argument {token!r}")
        name, sep, value = token[2:].partition("=")
        if sep:
            pairs.append(f"{name}={value}")
        elif name.startswith("no-"):
            pairs.append(f"{name[3:]}=false")
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            pairs.append(f"{name}={args[i + 1]}")
            i += 1
        else:
            pairs.append(f"{name}=true")
        i += 1
    return parse_options(pairs)


def metrics_table(result: Mapping[str, Any]) -> Table:
    from dcbench.evaluation.coco_eval import METRICS
    from dcbench.results import STORED, row_suffix

    cfg = result["config"]
    # printed as it is: the consoles read no markup, so "[teacher labels]" is not taken for a style tag
    method = cfg["method"] + row_suffix(cfg.get("labels") or STORED, cfg.get("label_score"))
    title = (
        f"{method} @ {cfg['ratio']:g} ({result['budget']} images) | {result['eval_detector']} | "
        f"{cfg['dataset']} | {cfg['protocol']['protocol_id']} | seed {cfg['seed']}"
    )
    table = Table(
        *METRICS,
        title=title,
        title_justify="left",
        caption="COCO AP on a 0-100 scale; - = undefined (no test object of that size)",
        caption_justify="left",
    )
    table.add_row(*("-" if result["metrics"][m] is None else f"{result['metrics'][m]:.2f}" for m in METRICS))
    return table


def _no_misspelled_run_flag(ctx: typer.Context, method: str, extra: dict) -> None:
    """Flags ``run`` does not know go to the method; one the method does not know either, and that looks like one of
    ``run``'s own (``--ratoi``), is a typo: say so, with the closest flag, rather than the method's complaint."""
    import difflib

    from dcbench.harness.identity import make_method

    try:
        make_method(method, extra)
    except ConfigError:
        own = [o for p in ctx.command.params for o in p.opts if o.startswith("--")]
        for name in extra:
            close = difflib.get_close_matches(f"--{name.replace('_', '-')}", own, n=1, cutoff=0.75)
            if close:
                raise ConfigError(f"unknown option --{name.replace('_', '-')} (did you mean {close[0]}?)") from None
        raise


def _check_label_flags(method: str, labels: str, label_score: float | None) -> None:
    """``--labels`` and ``--label-score`` are the cell's; a method may have options of the same names (OD3's
    ``labels=observer``, ``label_score``), which before these flags existed reached it as ``--labels observer``: a
    value only the method would take says where the method's option goes now."""
    from dcbench.errors import DcbenchError
    from dcbench.harness.identity import make_method
    from dcbench.results import LABEL_MODES, TEACHER

    def hint(option: str, value: object) -> str:
        try:  # the method takes it when it can be made with it (options may hide in **options)
            make_method(method, {option: value})
        except DcbenchError:
            return ""
        return f"; for the {method} method's own {option} option use -O {option}={value}"

    if labels not in LABEL_MODES:
        raise ConfigError(
            f"--labels {labels!r} is not a label mode (use one of: {', '.join(LABEL_MODES)}){hint('labels', labels)}"
        )
    if label_score is not None and labels != TEACHER:
        raise ConfigError(f"--label-score applies only with --labels teacher{hint('label_score', label_score)}")


def run(
    ctx: typer.Context,
    method: str = typer.Option("random", "--method", "-m", help="Condensation method (dcbench list methods)."),
    detector: str = typer.Option("yolo11n", "--detector", "-d", help="Detector that condenses (and evaluates)."),
    ratio: float = typer.Option(0.01, "--ratio", "-r", help="Fraction of the train set to keep, in (0, 1]."),
    dataset: str = typer.Option("shapes", "--dataset", help="Dataset spec: NAME or voc:DIR, coco:FILE.json, yolo:DIR."),
    test: str | None = typer.Option(None, "--test", help="Separate test set spec (default: the dataset's test split)."),
    eval_detector: str | None = typer.Option(
        None, "--eval-detector", help="Evaluate with another detector (cross-architecture)."
    ),
    protocol: str = typer.Option("quick", "--protocol", "-p", help="Training protocol preset: smoke, quick, paper."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed for selection, synthesis and training."),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="Folder for the cell's results."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: GPU when present)."),
    imgsz: int | None = IMGSZ,
    epochs: int | None = EPOCHS,
    batch: int | None = BATCH,
    min_iterations: int | None = MIN_ITERATIONS,
    student_repeats: int | None = STUDENT_REPEATS,
    nominal_batch: int | None = NOMINAL_BATCH,
    option: list[str] = typer.Option([], "--option", "-O", help="Method option KEY=VALUE (repeatable)."),
    teacher: Path | None = typer.Option(None, "--teacher", help="Use this teacher checkpoint instead of training one."),
    labels: str = typer.Option(
        "stored",
        "--labels",
        help="The student's labels: stored (the condensed set's boxes), teacher (the Fetch teacher's boxes) or "
        "distill (the stored boxes plus feature distillation from the Fetch teacher).",
    ),
    label_score: float | None = typer.Option(
        None, "--label-score", help="With --labels teacher: keep teacher boxes at or above this score (default 0.25)."
    ),
    skip_bad_images: bool = typer.Option(
        False,
        "--skip-bad-images",
        help="Leave out images that fail the decode check (listed in result.json) instead of stopping.",
    ),
    force: bool = typer.Option(False, "--force", help="Redo the cell even if its result exists."),
) -> None:
    """Condense with METHOD at RATIO, train a fresh detector on the condensed set, and score it on the test set.

    A method's options go with -O KEY=VALUE, as in a matrix spec's options table: ``--method dcod -O fbd=false -O
    ipe=false`` is plain inversion, ``-O iterations=500`` sets DCOD's forge length. ``--labels teacher`` trains
    the student on the condensing detector's Fetch teacher's boxes on the condensed images instead of the set's own.
    (Options as flags of their own, ``--no-fbd``, still work in this release, with a warning; they go in the next.)
    """
    from dcbench.device import resolve_device
    from dcbench.io import usable_dir
    from dcbench.progress import Reporter
    from dcbench.runner import cell, run_cell

    out = usable_dir(out)
    overrides = {
        "imgsz": imgsz,
        "epochs": epochs,
        "batch": batch,
        "min_iterations": min_iterations,
        "student_repeats": student_repeats,
        "nominal_batch": nominal_batch,
    }
    extra = parse_extra_flags(list(ctx.args))
    _no_misspelled_run_flag(ctx, method, extra)
    if extra:
        console.warn(
            "method options as flags of their own are deprecated and go in the next release: write "
            + " ".join(f"-O {k}={json.dumps(v)}" for k, v in extra.items())
        )
    _check_label_flags(method, labels, label_score)
    config = cell(
        method,
        detector,
        ratio,
        dataset=dataset,
        test=test,
        protocol=protocol,
        seed=seed,
        eval_detector=eval_detector,
        options={**parse_options(option), **extra},
        labels=labels,
        label_score=label_score,
        teacher=teacher,
        skip_bad_images=skip_bad_images,
        **overrides,
    )
    cell_dir = out / config.cell_name()
    if console.shown_existing(cell_dir, force, metrics_table):
        return
    resolved = resolve_device(device)
    console.info(f"cell {config.cell_name()} on {resolved}")
    # the Python API's run_cell: it makes ``out`` only now, after every argument is checked (a bad one leaves
    # nothing behind); force, since a finished cell was shown above unless --force asked for it again
    result = run_cell(config, out, device=resolved, force=True, reporter=Reporter(console=console.err))
    _report(result, cell_dir)


def _report(result: Mapping[str, Any], cell_dir: Path) -> None:
    """The metrics on stdout; the time per stage and where the result and the condensed set are on stderr."""
    console.out.print(metrics_table(result))
    console.info("time: " + ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in result["timings"].items()))
    console.info(f"result: {cell_dir / 'result.json'}")
    if result["condensed"].get("path"):
        console.info(
            f"condensed set: {(cell_dir / result['condensed']['path']).resolve()} (dcbench show it --out grid.png)"
        )


def register(app: typer.Typer) -> None:
    app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run)
