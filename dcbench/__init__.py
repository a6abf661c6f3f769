"""dcbench: a benchmark toolkit for dataset condensation in object detection.

Importing this package is cheap on purpose: torch, ultralytics and detectron2 are imported only by the modules
that need them, when a command needs them.
"""

__version__ = "0.1.0"

# dcbench from Python (dcbench.runner): cheap to import, as its functions import what they need when called
from dcbench.runner import cell, load_results, plan_matrix, run_cell, run_matrix, run_plan  # noqa: E402

__all__ = ["__version__", "cell", "load_results", "plan_matrix", "run_cell", "run_matrix", "run_plan"]
