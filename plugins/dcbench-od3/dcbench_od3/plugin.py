"""The plugin module named by the entry point: registers the method lazily (nothing heavy is imported here)."""

from dcbench.plugins import hookimpl

dcbench_contract = "1"  # the major version of dcbench's plugin contract this plugin was written for


@hookimpl
def dcbench_register_methods(registry):
    registry.add(
        "od3",
        "dcbench_od3.method:OD3",
        "OD3: paste real object crops onto M canvases, the teacher erases what it cannot recognise.",
    )
