"""Fixtures of the real-browser tests: Debian's chromium driven by Playwright, a page per test,
and the app served in the micro profile by a real HTTP server. Everything started here is
stopped here. A plugin of the root conftest.py, so that the browser and the SDK tests share one
Playwright and one chromium (two sync Playwrights cannot run in one process at once)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import psutil
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.micro import start_background
from app.tasks.webhooks import start_senders
from tests.support.browser import LiveServer
from tests.support.profiles import close_app

# Debian's package; Playwright's own browser download does not work here (no network).
CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches for the network on its own (updates, sync, QUIC probes):
# the machine has no network, so those would only slow the start-up or log errors.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One chromium for the whole session (a fresh temporary profile, removed on close)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash stack/install-system-packages.sh`")
    with sync_playwright() as playwright:
        driver = [  # Playwright's node driver, started just now
            p for p in psutil.Process().children() if "playwright" in _command_line(p)
        ]
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        yield chromium
        chromium.close()
    # Stopping Playwright only asks its driver to exit: wait until it has, or the interpreter
    # may meet its still-running process at exit (a ResourceWarning after the last test).
    psutil.wait_procs([p for p in driver if _running(p)], timeout=10)


def _command_line(process: psutil.Process) -> str:
    """The child's command line, or "" for one that has exited (an earlier test's process not
    yet reaped is a zombie, whose command line cannot be read)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own (no cookies or storage shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def live_micro_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The micro-profile app served on a free port in a background thread, for one module."""
    data_dir = tmp_path_factory.mktemp("live-micro")
    app = create_app({"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(data_dir)})
    with app.app_context():
        flask_migrate.upgrade()
    # Port 0: the kernel picks a free port as the socket binds, so no other process can take it
    # between choosing and binding.
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-micro-server", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    close_app(app)


@pytest.fixture(scope="module")
def worker(live_micro_server: LiveServer) -> Iterator[None]:
    """The micro profile's in-process worker and beat, so posted events get stored, mail sent
    and statistics counted as in `make run`."""
    worker, beat = start_background(live_micro_server.app.extensions["celery"])
    senders = start_senders(live_micro_server.app)
    yield
    del live_micro_server.app.extensions["webhook_senders"]
    senders.stop()
    beat.stop()
    worker.stop()
