"""Detection datasets described by one CSV file: an example dcbench dataset plugin."""
