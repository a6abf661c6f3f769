"""dcbench: a benchmark toolkit for dataset condensation in object detection.

Importing this package is cheap on purpose: torch, ultralytics and detectron2 are imported only by the modules
that need them, when a command needs them.
"""

__version__ = "0.1.0"
