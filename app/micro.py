"""The micro profile: API, embedded database, and Celery's worker and beat in this process."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController
from flask import Flask
from werkzeug.serving import make_server

from app import micro_broker
from app.database import upgrade_if_micro
from app.extensions import db
from app.micro_https import HttpsServer
from app.micro_timeouts import timed_request_handler
from app.models import User
from app.private_files import private_folder, write_private
from app.services import apps
from app.services.mail import CODE_FOR_HEADER, CODE_HEADER
from app.services.plans import starters
from app.tasks.webhooks import start_senders
from celery_config import QUEUES

log = logging.getLogger(__name__)
DEMO_APP = "demo"
# Pause before starting a worker again after it stopped unasked.
RESTART_DELAY_SECONDS = 1.0


def ensure_demo_app(flask_app: Flask) -> dict:
    """The demo app with its keys, created with the demo plan on first start."""
    keys_file = Path(flask_app.config["DATA_DIR"]) / "demo_app.json"
    with flask_app.app_context():
        upgrade_if_micro()
        app = apps.find_app(DEMO_APP)
        # The read key is stored only hashed; micro keeps the demo's in its data folder (a
        # local dev convenience) so every start can print it, and re-keys it if that file is gone.
        if app is None:
            demo_plan = starters.template_plan(starters.DEMO)
            keys = apps.create_app_record(DEMO_APP, demo_plan).to_dict()
        elif not keys_file.exists():
            keys = {"id": app.id, "name": app.name, "read_key": apps.rotate_read_key(app)}
        else:
            keys = json.loads(keys_file.read_text())
            if not _still_demo_read_key(keys.get("read_key"), keys["id"]):
                # Rotated in the dashboard (which showed the new key once): never print the
                # old one, which only answers 401 now.
                keys["read_key"] = None
        keys["write_key"] = apps.find_app(keys["id"]).write_key  # it may have been rotated
        write_private(keys_file, json.dumps(keys))  # the read key: for this user's eyes only
        # The first account confirmed on this instance gets the demo app (dashboard/accounts.py).
        flask_app.config["DEMO_APP_ID"] = keys["id"]
        return keys


def _still_demo_read_key(read_key: str | None, app_id: int) -> bool:
    """Whether `read_key` still opens the demo app (the app keeps read keys only hashed)."""
    if not read_key:
        return False
    holder = apps.app_by_read_key(read_key)
    return holder is not None and holder.id == app_id


def read_key_line(flask_app: Flask, read_key: str | None) -> str:
    """The banner's line for the demo app's read key, or how to have a new one printed."""
    if read_key:
        return f"  demo app read key:  {read_key}\n"
    keys_file = Path(flask_app.config["DATA_DIR"]) / "demo_app.json"
    return (
        "  demo app read key was replaced in the dashboard (shown there once); to have a new\n"
        f"    one printed here, delete {keys_file} and start again\n"
    )


def demo_owner_line(flask_app: Flask, app_id: int) -> str:
    """Who owns the demo app, or how it gets an owner."""
    with flask_app.app_context():
        owner_id = apps.find_app(app_id).owner_id
        owner = db.session.get(User, owner_id) if owner_id is not None else None
        if owner is not None:
            return f"owner {owner.email}"
        return (
            "no owner yet: the first account to confirm its e-mail gets it "
            f"(or: flask --app run apps set-owner {app_id} EMAIL)"
        )


def console_line(message: Message) -> str:
    """The console's line for a mail the sink received: a code mail's code, else its subject
    only (other mail bodies stay in the mailbox)."""
    to = message.get("To", "")
    if message.get(CODE_HEADER):
        return f"mail to {to}: your {message[CODE_FOR_HEADER]} code is {message[CODE_HEADER]}"
    return f"mail to {to}: {message.get('Subject', '')!r} (filed in the mail sink's new/ folder)"


class ConsoleMailbox(Mailbox):
    """A maildir that also prints a line per mail on the console (codes in full)."""

    def handle_message(self, message: Message) -> None:
        super().handle_message(message)
        print(console_line(message), flush=True)


def start_mail_sink(flask_app: Flask) -> Controller | None:
    """A local SMTP server that files mail under DATA_DIR/mail, unless SMTP_URL is set."""
    if flask_app.config["SMTP_URL"]:
        return None
    mailbox = Path(flask_app.config["DATA_DIR"]) / "mail"
    handler = ConsoleMailbox(str(mailbox))  # a maildir: its folders are 0700 when it creates them
    private_folder(mailbox)  # mail carries sign-up and reset codes; an older version's was 0755
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    flask_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    flask_app.config["CODES_ON_CONSOLE"] = True
    return controller


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def new_worker(celery_app: Celery) -> WorkController:
    """Celery's worker for every queue, to run as a thread of this process."""
    return WorkController(
        app=celery_app,
        hostname="micro@localhost",
        pool_cls="solo",
        concurrency=1,
        queues=list(QUEUES),
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )


class EmbeddedWorker:
    """Celery's worker in a thread, started again (with a log line) whenever it stops unasked.

    Without it, one exception that escapes the worker ends background work until the process
    restarts, while the API goes on answering 202.
    """

    def __init__(self, celery_app: Celery) -> None:
        self.celery_app = celery_app
        self.broker_folder = Path(celery_app.conf.broker_transport_options["data_folder_in"])
        self.restarts = 0
        self.worker: WorkController | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="celery-worker", daemon=True)

    def start(self) -> None:
        """Hand back what a previous run left unacknowledged, then start the worker."""
        micro_broker.recover(self.broker_folder)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                self.worker = worker = new_worker(self.celery_app)
            try:
                worker.start()  # returns when the worker stops, asked or not
            except BaseException:
                log.exception("the embedded worker failed")
            if self._stopping.is_set():
                return
            self.restarts += 1
            log.error("the embedded worker stopped; starting a new one (restart %d)", self.restarts)
            # The stopped worker's consumer is gone: what it held goes back to the queues.
            micro_broker.recover(self.broker_folder)
            self._stopping.wait(RESTART_DELAY_SECONDS)  # no busy loop if it keeps failing

    def stop(self, timeout: float = 30) -> None:
        """Stop the worker; unacknowledged messages go back to the broker folder."""
        with self._lock:
            self._stopping.set()
            worker = self.worker
        if worker is not None:
            worker.stop()
        self._thread.join(timeout)


def start_background(celery_app: Celery) -> tuple[EmbeddedWorker, EmbeddedService]:
    """Celery's worker (every queue, restarted if it stops) and beat, as threads of this
    process."""
    worker = EmbeddedWorker(celery_app)
    worker.start()
    beat = EmbeddedService(celery_app, thread=True)
    beat.start()
    return worker, beat


def start_https(flask_app: Flask) -> tuple[HttpsServer | None, str]:
    """The HTTPS port for devices, or None and why not: HTTP serves on either way, so a busy
    HTTPS port (another `make run` on PORT + 443, say) is a line on the console, not a crash."""
    port = flask_app.config["HTTPS_PORT"]
    if not port:
        return None, "  HTTPS: off (HTTPS_PORT is 0 or empty)\n"
    try:
        https = HttpsServer(flask_app)
    except (OSError, SystemExit):  # werkzeug's server exits when its port is taken
        log.warning("HTTPS not served: port %s could not be used", port)
        return None, f"  HTTPS: off, port {port} could not be used; set HTTPS_PORT\n"
    https.start()
    return https, ""


def _interrupt(signum: int, frame: object) -> None:
    # Stopping takes a moment (servers, beat, worker): a second Ctrl-C or SIGTERM meanwhile
    # (a shell or supervisor signalling the whole process group, an impatient user) would
    # raise again inside the clean-up and leave a traceback. One is enough.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def serve(flask_app: Flask) -> None:
    """Run the micro profile until interrupted."""
    # Everything this process creates in its data folder from here on (database journals, mail,
    # the beat schedule) is its user's alone; the files that matter are also made private where
    # they are created, since the admin command can create them too.
    os.umask(0o077)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    keys = ensure_demo_app(flask_app)
    mail_sink = start_mail_sink(flask_app)
    worker, beat = start_background(flask_app.extensions["celery"])
    start_senders(flask_app)
    host, port = flask_app.config["HOST"], flask_app.config["PORT"]
    server = make_server(
        host,
        port,
        flask_app,
        threaded=True,
        request_handler=timed_request_handler(flask_app.config["MICRO_SOCKET_TIMEOUT_SECONDS"]),
    )
    url = f"http://{host}:{server.server_port}"
    https, https_note = start_https(flask_app)
    banner = (
        f"\nLive Validation Dashboard (micro profile) on {url}\n"
        f"  demo app {keys['id']}: {demo_owner_line(flask_app, keys['id'])}\n"
        f"  demo app {keys['id']} write key: {keys['write_key']}\n"
        + read_key_line(flask_app, keys["read_key"])
        + f"  data: {flask_app.config['DATA_DIR']}   mail sink: {flask_app.config['SMTP_URL']}"
        f"{'   (codes mailed are printed here)' if mail_sink else ''}\n"
        f"  try: curl -s -H 'Content-Type: application/json' "
        f'-d \'{{"eventName":"user_login","userId":123}}\' {url}/api/logs/{keys["write_key"]}\n'
        + (https.banner() if https else https_note)
    )
    # Ctrl-C and SIGTERM both stop gracefully, even when started with SIGINT ignored (as a
    # background job of a shell is). Set before the banner: once it is out, a stop is clean.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(banner, flush=True)
        server.serve_forever()  # werkzeug's returns on KeyboardInterrupt (our signals)
    except KeyboardInterrupt:
        pass  # one that came before serve_forever started
    finally:
        print("\nStopping...", flush=True)
        server.server_close()
        if https:
            https.stop()
        beat.stop()
        worker.stop()  # hands unacknowledged messages back to the broker folder
        if mail_sink is not None:
            mail_sink.stop()
