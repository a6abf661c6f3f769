"""OD3 (optimization-free dataset distillation for object detection) as a dcbench method plugin."""
