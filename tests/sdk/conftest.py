"""Fixtures of the SDK tests: the npm-installed SDKs (the micro-profile service on a real HTTP
server comes from the browser tests' fixtures, tests/browser_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sdk.helpers import JS_DIR, NODE_MODULES


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/sdk/js/node_modules, installed from the lock file by `make test` (`npm ci`)."""
    if not (NODE_MODULES / "@segment").is_dir():
        pytest.fail(f"{NODE_MODULES} is missing: run `cd {JS_DIR} && npm ci` (make test does)")
    return NODE_MODULES
