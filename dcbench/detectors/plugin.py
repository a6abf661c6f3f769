"""Built-in detectors, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl


@hookimpl
def dcbench_register_detectors(registry):
    pass
