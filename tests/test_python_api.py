"""dcbench from Python: a cell, a matrix and the results as a DataFrame, as the CLI runs them."""

from __future__ import annotations

import pytest

import dcbench
from dcbench.errors import ConfigError
from tests.conftest import TINY_SHAPES


def test_a_cell_is_configured_and_checked_without_running_anything():
    config = dcbench.cell("random", "yolov3-tiny", 0.1, dataset=TINY_SHAPES, protocol="smoke", seed=3, epochs=2)
    assert config.seed == 3 and config.protocol.epochs == 2 and "epochs" in dict(config.protocol.overrides)
    assert config.cell_name().endswith(f"__s3__{config.protocol.protocol_id}")
    with pytest.raises(ConfigError, match="ratio"):
        dcbench.cell(ratio=1.5)
    with pytest.raises(ConfigError, match="label_score"):
        dcbench.cell(labels="distill", label_score=0.3)


@pytest.mark.slow
def test_run_cell_and_load_results_give_what_the_cli_gives(tmp_path):
    config = dcbench.cell("random", "yolov3-tiny", 0.1, dataset=TINY_SHAPES, protocol="smoke")
    result = dcbench.run_cell(config, tmp_path / "runs", device="cpu")
    assert result["cell"] == config.cell_name() and (tmp_path / "runs" / config.cell_name() / "result.json").is_file()
    assert dcbench.run_cell(config, tmp_path / "runs", device="cpu")["finished"] == result["finished"]  # reused
    frame = dcbench.load_results(tmp_path / "runs")
    assert frame["cell"].tolist() == [config.cell_name()] and frame["mAP"].iloc[0] == result["metrics"]["mAP"]


@pytest.mark.slow
def test_run_matrix_runs_what_is_not_done_and_a_slice(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'name = "py"\nprotocol = "smoke"\ndatasets = ["{TINY_SHAPES}"]\ndetectors = ["yolov3-tiny"]\n'
        'ratios = [0.1]\nseeds = [0, 1]\n\n[[methods]]\nname = "random"\n'
    )
    out = tmp_path / "out"
    first = dcbench.run_matrix(spec, out, device="cpu", seeds=[1])
    assert [o.status for o in first] == ["ok"] and first[0].cell.endswith("__s1__smoke")
    rest = dcbench.run_matrix(spec, out, device="cpu")
    assert [o.cell.rsplit("__", 2)[1] for o in rest] == ["s0"]
    assert dcbench.run_matrix(spec, out, device="cpu") == []
    assert len(dcbench.load_results(out)) == 2
    plan = dcbench.plan_matrix(spec, out)  # what dcbench matrix --dry-run shows
    assert plan.summary() == "2 done" and plan.todo == [] and plan.target == out.resolve()


def test_a_matrix_plan_shows_cell_states_and_refuses_options_its_executor_lacks(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'name = "py"\nprotocol = "smoke"\ndatasets = ["{TINY_SHAPES}"]\ndetectors = ["yolov3-tiny"]\n'
        'ratios = [0.1]\nseeds = [0, 1, 2]\n\n[[methods]]\nname = "random"\n'
    )
    plan = dcbench.plan_matrix(spec, tmp_path / "out", seeds=[0, 2], dry_run=True)
    assert [c.seed for c in plan.todo] == [0, 2] and plan.summary() == "2 pending"
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    with pytest.raises(ConfigError, match="--num-cpus does not apply to the local executor"):
        dcbench.run_plan(plan, num_cpus=2)
