"""``python -m dcbench`` is the ``dcbench`` command."""

from dcbench.cli.app import entry

entry()
