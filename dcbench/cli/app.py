"""The ``dcbench`` command. Each command group lives in its own module; this one wires them and turns user
errors into one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys

import typer

from dcbench import __version__
from dcbench.cli import console
from dcbench.errors import DcbenchError

app = typer.Typer(
    name="dcbench",
    help="Benchmark dataset condensation for object detection (DCOD and baselines).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"dcbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    no_plugins: bool = typer.Option(False, "--no-plugins", help="Do not load third-party plugins (entry points)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    from dcbench.plugins import manager

    console.install_log_handler()
    regs = manager.reset_registries(autoload=not no_plugins)
    for problem in regs.problems:
        console.warn(str(problem))


def _register_commands() -> None:
    from dcbench.cli import archive_cmd, data_cmd, eval_cmd, leaderboard_cmd, list_cmd, matrix_cmd, run_cmd, show_cmd

    list_cmd.register(app)
    run_cmd.register(app)
    eval_cmd.register(app)
    show_cmd.register(app)
    archive_cmd.register(app)
    matrix_cmd.register(app)
    leaderboard_cmd.register(app)
    app.add_typer(data_cmd.app, name="data")


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status. Usage errors are Typer's (exit 2); a :class:`DcbenchError` is
    printed as one line (exit 2); anything else is a bug and keeps its traceback."""
    try:
        app(args=argv, prog_name="dcbench")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except DcbenchError as exc:
        console.err.print(f"[red]error:[/red] {exc}", highlight=False)
        return exc.exit_code
    return 0


def entry() -> None:
    sys.exit(main())
