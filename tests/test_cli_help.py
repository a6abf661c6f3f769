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


class _KeepFirst:
    """A method with one option, to see how options reach it."""

    name = "keep-first"

    def __init__(self, offset: int = 0):
        self.offset = offset

    def describe(self) -> dict:
        return {"offset": self.offset}

    def condense(self, train, budget, *, context):
        from dcbench.api import write_condensed

        subset = train.subset(list(range(self.offset, self.offset + budget)))
        return write_condensed(subset, context.workdir / "condensed", {"method": "keep-first", "budget": budget})


@pytest.mark.slow
@pytest.mark.parametrize("how", [["-O", "offset=1"], ["--offset", "1"]], ids=["-O", "flag"])
def test_a_method_option_goes_with_o_and_the_flag_form_still_works_with_a_warning(how, tmp_path, capsys):
    from dcbench.plugins import hookimpl, manager
    from tests.conftest import TINY_SHAPES, smoke_run

    class Plugin:
        @hookimpl
        def dcbench_register_methods(self, registry):
            registry.add("keep-first", _KeepFirst, "the first images after an offset")

    with manager.registered(Plugin()):
        assert main(smoke_run(tmp_path / "runs", method="keep-first", dataset=TINY_SHAPES, extra=tuple(how))) == 0
    err = capsys.readouterr().err
    assert ("deprecated" in err and "-O offset=1" in err) == (how[0] == "--offset")
    (cell,) = (tmp_path / "runs").glob("*keep-first*offset=1*")
    assert (cell / "result.json").is_file()
