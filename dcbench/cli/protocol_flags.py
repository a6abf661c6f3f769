"""The flags that override a protocol preset, shared by ``dcbench run`` and ``dcbench eval``: a set scored by
``eval`` with the overrides a matrix spec names gets that spec's protocol id, so it lands in the spec's table
beside the cells, under the very training rule they had."""

from __future__ import annotations

import typer

from dcbench.protocols import Protocol, get_protocol

IMGSZ = typer.Option(None, "--imgsz", help="Override the protocol's image size.")
EPOCHS = typer.Option(None, "--epochs", help="Override the protocol's epochs.")
BATCH = typer.Option(None, "--batch", help="Override the protocol's batch size.")
MIN_ITERATIONS = typer.Option(
    None, "--min-iterations", help="Override the protocol's floor of optimiser steps per training."
)
STUDENT_REPEATS = typer.Option(None, "--student-repeats", help="Students trained per set (their metrics averaged).")
NOMINAL_BATCH = typer.Option(
    None, "--nominal-batch", help="Override the images per optimiser update (Ultralytics accumulates up to it)."
)


def protocol_with(name: str, **overrides: int | None) -> Protocol:
    """The preset ``name`` with the flags that were given (None: not given, the preset's value stands)."""
    return get_protocol(name).with_overrides(**overrides)
