"""The test kit for plugin authors: contract checks for a condensation method or a dataset, and small data.

In a plugin's tests::

    from dcbench.testing import check_method, check_dataset, check_registers

    def test_contract(tmp_path):
        check_registers(my_plugin_module, methods=["my-method"])
        check_method("my-method", tmp_path)

With pytest, dcbench's ``pytest11`` entry point provides the fixtures
``dcbench_tiny_dataset`` (a small generated dataset with train/test splits and a class without boxes) and
``dcbench_cache`` (an isolated cache folder). A method that needs the Fetch teacher gets a real one, trained in
seconds at the ``smoke`` protocol (``smoke_teacher``; pass ``teacher=`` to reuse one across checks).
"""

from dcbench.plugins.manager import registered
from dcbench.testing.contracts import (
    check_dataset,
    check_detector,
    check_method,
    check_registers,
    smoke_teacher,
    tiny_dataset,
)

__all__ = [
    "check_dataset",
    "check_detector",
    "check_method",
    "check_registers",
    "registered",
    "smoke_teacher",
    "tiny_dataset",
]
