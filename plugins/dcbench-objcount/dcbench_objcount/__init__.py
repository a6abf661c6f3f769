"""Object-count-aware selection: an example dcbench method plugin."""
