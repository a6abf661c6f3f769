"""The typed result record: written with its schema and the method's provider, old files still read."""

import json

import pytest

from dcbench.api import RESULT_SCHEMA, read_result_record
from dcbench.cli.app import main
from dcbench.errors import DatasetError
from tests.conftest import smoke_run


@pytest.mark.slow
def test_a_result_records_its_schema_and_the_package_that_provided_the_method(tmp_path):
    assert main(smoke_run(tmp_path)) == 0
    record = read_result_record(next(tmp_path.glob("*/result.json")))
    assert record["schema"] == RESULT_SCHEMA == 2
    assert record["plugin"]["name"] == "dcbench" and record["plugin"]["plugin"] == "dcbench.methods.plugin"


def test_a_third_party_method_is_recorded_with_its_distribution():
    from dcbench.plugins.manager import build_registries

    regs = build_registries()
    if "objcount" not in regs.methods:
        pytest.skip("the example plugin dcbench-objcount is not installed")
    assert regs.provider("methods", "objcount") == {
        "name": "dcbench-objcount",
        "version": "0.1.0",
        "plugin": "objcount",
    }


def test_schema_1_files_are_read_and_broken_ones_named(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"cell": "c", "config": {}, "metrics": {}, "budget": 1, "condensed": {}, "method": {}}))
    assert read_result_record(old)["plugin"]["name"] == "unknown (schema 1)"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"cell": "c"}))
    with pytest.raises(DatasetError, match="broken.json: not a dcbench result file"):
        read_result_record(broken)
