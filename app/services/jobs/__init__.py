"""Background jobs: the runner (claim, save, cancel, recover), one module per job kind, and
work.py, which runs a claimed job of any kind for one slice."""
