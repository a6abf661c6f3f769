"""``dcbench list``: what is registered, by which plugin. Imports nothing heavy."""

from __future__ import annotations

import json
from enum import Enum

import typer
from rich.table import Table

from dcbench.cli import console


class Kind(str, Enum):
    all = "all"
    methods = "methods"
    detectors = "detectors"
    datasets = "datasets"


class Format(str, Enum):
    table = "table"
    json = "json"


def list_command(
    kind: Kind = typer.Argument(Kind.all, help="What to list."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
) -> None:
    """List registered methods, detectors and datasets with the plugin that provides each."""
    from dcbench.plugins.manager import get_registries

    regs = get_registries()
    kinds = ["methods", "detectors", "datasets"] if kind is Kind.all else [kind.value]
    rows = {
        k: [{"name": e.name, "plugin": e.source, "description": e.description} for e in regs.by_kind(k)] for k in kinds
    }
    if fmt is Format.json:
        console.out.print_json(json.dumps(rows if kind is Kind.all else rows[kind.value]))
        return
    for k in kinds:
        table = Table(title=k, title_justify="left")
        for col in ("name", "plugin", "description"):
            table.add_column(col)
        for row in rows[k]:
            table.add_row(row["name"], row["plugin"], row["description"])
        console.out.print(table)


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
