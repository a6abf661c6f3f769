"""The plugin module named by the entry point: registers the method lazily (nothing heavy is imported here)."""

from dcbench.plugins import hookimpl

dcbench_contract = "1"  # the major version of dcbench's plugin contract this plugin was written for


@hookimpl
def dcbench_register_methods(registry):
    registry.add(
        "objcount",
        "dcbench_objcount.method:ObjectCountSelection",
        "Object-count-aware: images with the most objects, spread over classes (example plugin).",
    )
