"""Built-in condensation methods, registered through the same hook a third-party plugin uses."""

from dcbench.plugins import hookimpl


@hookimpl
def dcbench_register_methods(registry):
    registry.add(
        "random",
        "dcbench.methods.random:RandomSelection",
        "Random: M training images drawn uniformly (the DCOD paper's main baseline).",
    )
    registry.add("uniform", "dcbench.methods.uniform:UniformSelection", "Uniform: class-balanced draw of whole images.")
    registry.add(
        "kcenter",
        "dcbench.methods.feature_selection:KCenterSelection",
        "K-Center: greedy max-min L2 on whole-image features (-O extractor=teacher|resnet50:PATH).",
    )
    registry.add(
        "herding",
        "dcbench.methods.feature_selection:HerdingSelection",
        "Herding: match the mean of whole-image features (-O extractor=teacher|resnet50:PATH).",
    )
    registry.add(
        "full",
        "dcbench.methods.full:FullData",
        "Full data: the whole train split (ratio 1), the upper-bound row; reuses the cached teacher.",
    )
    registry.add(
        "dcod",
        "dcbench.methods.dcod.method:DCOD",
        "DCOD Fetch & Forge: invert the trained detector with FBD and IPE (-O fbd=false -O ipe=false ...).",
    )
