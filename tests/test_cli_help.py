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


def test_a_stage_that_knows_its_total_says_elapsed_time_and_an_eta(capsys, monkeypatch):
    import dcbench.progress as progress

    clock = iter([0.0, 10.0, 20.0, 40.0, 41.0])  # the start, each step, the end
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with progress.Reporter(rich=False).stage("train", total=4, unit="epoch") as step:
        step(1)  # 10 s for the first of 4: 30 s to go
        step(2)
        step(4)
    lines = capsys.readouterr().err.splitlines()
    assert "epoch 1/4 (0:00:10 elapsed, eta 0:00:30)" in lines[1]
    assert lines[-2].endswith("epoch 4/4 (0:00:40 elapsed)") and lines[-1].endswith("done in 41.0s")
