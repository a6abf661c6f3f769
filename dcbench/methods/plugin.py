"""Built-in condensation methods, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl


@hookimpl
def dcbench_register_methods(registry):
    registry.add("random", "dcbench.methods.random:RandomSelection",
                 "Random: M training images drawn uniformly (the DCOD paper's main baseline).")
