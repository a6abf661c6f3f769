"""The ``dcbench`` command. Each command group lives in its own module; this one wires them and turns user
errors into one line on stderr and a non-zero exit.

Exit status:

* 0 -- done;
* 1 -- a fault of the machine met while working (a full disk, an I/O error: an ``OSError`` no command expected,
  printed as one line naming the file and the problem), or a command's own "not everything succeeded" (a matrix
  with failed cells, ``leaderboard --check`` with stale tables);
* 2 -- bad input: a usage error, or a :class:`~dcbench.errors.DcbenchError` (an unreadable dataset, an unusable
  output or cache folder, a bad spec), printed as one line;
* 130 -- interrupted (Ctrl-C), said in one line; whatever was being written is removed, finished files stay.

Anything else is a bug and keeps its traceback.
"""

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
    # click's plain help: a flag is a flag (rich help prints "--help <bool>", as if it took a value), and the text
    # reads the same in a terminal, a pipe and the generated CLI reference
    rich_markup_mode=None,
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
    from dcbench.cli import (
        archive_cmd,
        data_cmd,
        decompose_cmd,
        eval_cmd,
        leaderboard_cmd,
        list_cmd,
        matrix_cmd,
        run_cmd,
        show_cmd,
    )

    list_cmd.register(app)
    run_cmd.register(app)
    eval_cmd.register(app)
    show_cmd.register(app)
    archive_cmd.register(app)
    matrix_cmd.register(app)
    leaderboard_cmd.register(app)
    decompose_cmd.register(app)
    app.add_typer(data_cmd.app, name="data")


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (see the module's docstring)."""
    try:
        app(args=argv, prog_name="dcbench")
    except SystemExit as exc:
        if exc.code == 130 and _interrupted(exc):  # typer turns Ctrl-C into a silent exit 130
            return _say_interrupted()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return _say_interrupted()
    except DcbenchError as exc:
        console.error(str(exc))
        return exc.exit_code
    except OSError as exc:  # a fault of the machine (a full disk, a failing drive), not a bug in dcbench
        console.error(_os_error_line(exc))
        return 1
    return 0


def _interrupted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _say_interrupted() -> int:
    console.err.print("dcbench: interrupted", markup=False, highlight=False)
    return 130


def _os_error_line(exc: OSError) -> str:
    problem = exc.strerror or str(exc) or type(exc).__name__
    where = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
    return f"{' -> '.join(where)}: {problem}" if where else problem


def entry() -> None:
    sys.exit(main())
