from dcbench.testing.fixtures import dcbench_cache, dcbench_tiny_dataset  # noqa: F401  (the kit's fixtures)
