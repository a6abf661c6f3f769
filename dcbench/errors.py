"""Errors a user can act on.

Everything raised as a :class:`DcbenchError` is printed by the CLI as one line and turned into a non-zero exit
code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class DcbenchError(Exception):
    """An error caused by input or configuration, with a message meant for the user."""

    exit_code = 2


class DatasetError(DcbenchError):
    """Invalid or unreadable dataset. The message names the file and what is wrong with it."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class RegistryError(DcbenchError):
    """Unknown or duplicate plugin names, or a target that is not what its kind requires."""


class ConfigError(DcbenchError):
    """An option or protocol value that is out of range or inconsistent."""
