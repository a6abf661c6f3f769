"""``--help`` reads right: a flag is shown as a flag, never as an option that takes ``<bool>``."""

import pytest

from dcbench.cli.app import main

COMMANDS = [[], ["run"], ["eval"], ["matrix"], ["leaderboard"], ["data", "check"], ["import"], ["list"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dcbench")
def test_no_flag_is_shown_as_taking_a_bool(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--" in out and "<bool>" not in out
