"""Background jobs: the runner (claim, slices, cancel, recover) and one module per job kind."""
