"""lvd: the Live Validation Dashboard's command-line client for CI (HTTP API only)."""

__version__ = "0.1.0"
