"""`make run` (python run.py) is always the micro profile with its own data: never the stack a
running `make up` recorded in var/full/stack.env (that made it crash with KeyError
'data_folder_in' after creating the demo app in the full profile's database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import config
from stack.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def running_stack(tmp_path, monkeypatch):
    """A stack file as `make up` writes it (stack/__main__.py), its servers at free ports where
    nothing listens."""
    stack_file = tmp_path / "stack.env"
    stack_file.write_text(
        f"LVD_PROFILE=full\nLVD_DATA_DIR={tmp_path / 'full'}\nTRUSTED_PROXIES=1\n"
        f"REDIS_URL=redis://127.0.0.1:{free_port()}/0\n"
        f"DATABASE_URL=postgresql://lvd@127.0.0.1:{free_port()}/lvd\n"
    )
    monkeypatch.setattr(config, "STACK_FILE", stack_file)
    return stack_file


def test_the_admin_command_follows_the_stack_but_make_run_does_not(running_stack, monkeypatch):
    for name in ("LVD_PROFILE", "LVD_DATA_DIR", "REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert config.config_from_environment()["PROFILE"] == "full"  # `flask --app run …`
    micro = config.build_config(config.micro_environment(os.environ))
    assert micro["PROFILE"] == "micro"
    assert micro["DATA_DIR"] == str(config.VAR / "micro")
    assert micro["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{config.VAR / 'micro' / 'lvd.sqlite3'}"
    assert micro["CELERY_BROKER_URL"] == "filesystem://"


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"LVD_PROFILE": "full"}, "LVD_PROFILE is 'full'"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "REDIS_URL is set"),
    ],
)
def test_make_run_refuses_an_environment_that_asks_for_the_full_profile(env, reason):
    with pytest.raises(ValueError, match=reason):
        config.micro_environment(env)


def test_an_explicit_micro_profile_keeps_its_settings():
    env = {"LVD_PROFILE": "micro", "REDIS_URL": "redis://127.0.0.1:1/0", "PORT": "5001"}
    assert config.micro_environment(env) == env
    assert config.micro_environment({}) == {"LVD_PROFILE": "micro"}


@pytest.mark.system  # starts a process in its own body
def test_run_py_with_make_ups_settings_exported_says_why_and_stops(running_stack, tmp_path):
    """The settings of the stack file exported in the shell: a clear refusal, nothing made."""
    settings = dict(line.split("=", 1) for line in running_stack.read_text().splitlines())
    result = subprocess.run(
        [sys.executable, "run.py"],
        cwd=ROOT,
        env={**os.environ, **settings, "PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "run.py: `make run` serves the micro profile, but LVD_PROFILE is 'full': unset it, "
        "or start the full profile with `make up`"
    )
    assert not (tmp_path / "full").exists()
