"""White-box measurements: code of `app` timed in process (`loadtests/` drives the product
from outside, through its CLI and HTTP API only)."""
