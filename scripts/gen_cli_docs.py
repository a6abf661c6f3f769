"""Write docs/reference/cli.md from the ``dcbench`` Typer app: every command's usage, help, arguments and options.

    python scripts/gen_cli_docs.py           # regenerate the page
    python scripts/gen_cli_docs.py --check   # exit 1 when the page is not what the CLI gives now (a test runs it)

The page is made from the click command that Typer builds (``typer.main.get_command``), walked the way ``--help``
walks it, so it says exactly what ``dcbench COMMAND --help`` says, without a terminal's line wrapping.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import typer.main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "cli.md"

HEADER = """# Command-line reference

Generated from the Typer app (`dcbench.cli.app`) by `python scripts/gen_cli_docs.py`; do not edit by hand
(`python scripts/gen_cli_docs.py --check`, run by the tests, fails when this page is stale). `dcbench COMMAND --help`
prints the same. Results go to stdout, progress and logs to stderr; exit status 0 is done, 1 a fault of the machine or
a command's own "not everything succeeded" (a failed matrix cell, stale tables under `leaderboard --check`), 2 a bad
input (one line naming the file and the problem), 130 interrupted.
"""

_CODE = re.compile(r"(``?[^`]+``?)")


def _text(text: str) -> str:
    """Help text as Markdown: reST's double backticks become code spans; outside code, characters Markdown would
    read as HTML or emphasis are escaped."""
    out = []
    for piece in _CODE.split(text.strip()):
        if piece.startswith("`"):
            out.append("`" + piece.strip("`") + "`")
        else:
            out.append(piece.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", r"\*"))
    return "".join(out)


def _help(command) -> str:
    text = (command.help or "").replace("\b\n", "").strip()
    return "\n\n".join(_text(p) for p in re.split(r"\n\s*\n", text)) if text else ""


def _usage(command, ctx) -> str:
    return " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])


def _section(command, ctx) -> list[str]:
    lines = [f"## `{ctx.command_path}`", ""]
    if command.help:
        lines += [_help(command), ""]
    lines += ["```text", _usage(command, ctx), "```", ""]
    arguments, options = [], []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            metavar = param.make_metavar(ctx) if hasattr(param, "make_metavar") else param.name.upper()
            help_text = _text(getattr(param, "help", None) or "")
            required = "" if param.required else " (optional)"
            arguments.append(f"- `{metavar}`{required}: {help_text}".rstrip(": "))
        else:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            options.append(f"- `{names}`: {_text(help_text)}".rstrip(": "))
    if arguments:
        lines += ["**Arguments**", "", *arguments, ""]
    if options:
        lines += ["**Options**", "", *options, ""]
    subcommands = command.list_commands(ctx) if hasattr(command, "list_commands") else []
    if subcommands:
        lines += ["**Commands**", ""]
        for name in subcommands:
            sub = command.get_command(ctx, name)
            anchor = f"{ctx.command_path} {name}".replace(" ", "-")
            lines.append(f"- [`{name}`](#{anchor}): {_text(sub.get_short_help_str(limit=300))}")
        lines.append("")
    return lines


def _walk(command, name: str, parent=None) -> list[str]:
    ctx = command.make_context(name, [], parent=parent, resilient_parsing=True)
    lines = _section(command, ctx)
    if hasattr(command, "list_commands"):
        for sub_name in command.list_commands(ctx):
            lines += _walk(command.get_command(ctx, sub_name), sub_name, ctx)
    return lines


def render() -> str:
    from dcbench.cli.app import app

    command = typer.main.get_command(app)
    body = _walk(command, "dcbench")
    return HEADER + "\n" + "\n".join(body).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is stale; write nothing")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else None
        if current != page:
            rel = PAGE.relative_to(ROOT)
            print(f"{rel} is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
