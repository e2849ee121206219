"""The product's command line as the load tests use it: they drive the product through its CLI
and HTTP API only, never by importing it (the loadtests layer contract)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def flask_command(env: dict[str, str], *args: str) -> str:
    """Run `flask --app run ARGS` (the product's command line); its standard output."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout
