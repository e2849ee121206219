"""Configuration: every environment variable is read here and nowhere else."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.host_header import is_host_and_port

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
# `make up` records the URLs of the stack it started here and `make down` removes it, so the
# admin command run with no environment acts on the running full profile.
STACK_FILE = VAR / "full" / "stack.env"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a file (missing file: nothing)."""
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def database_uri(url: str) -> str:
    """SQLAlchemy URI for a DATABASE_URL (plain postgresql:// URLs use psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def persistent_secret(path: Path) -> str:
    """A random secret kept in a file, so every process of one instance shares it."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder: private
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


# gunicorn.conf.py has the same default (it reads no app module): see there.
DEFAULT_WAITS_PER_PROCESS = 4


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    return int(env.get(key, default))


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    value = env.get(key, "")
    return default if value == "" else value.lower() in ("1", "true", "yes", "on")


def _https_port(env: Mapping[str, str]) -> int:
    """HTTPS_PORT: unset is PORT + 443 (5443 by default); set but empty, or 0, is off."""
    if "HTTPS_PORT" not in env:
        return _int(env, "PORT", 5000) + 443
    return int(env["HTTPS_PORT"] or 0)


def _public_api_host(env: Mapping[str, str]) -> str:
    value = env.get("PUBLIC_API_HOST", "")
    if value and not is_host_and_port(value):
        raise ValueError(f"PUBLIC_API_HOST must be host[:port] (no scheme or path), not {value!r}")
    return value


def build_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings of one instance, from a mapping of environment-style strings."""
    profile = env.get("LVD_PROFILE") or ("full" if env.get("REDIS_URL") else "micro")
    if profile not in ("micro", "full"):
        raise ValueError(f"LVD_PROFILE must be micro or full, not {profile!r}")
    data_dir = Path(env.get("LVD_DATA_DIR") or VAR / profile)
    micro = profile == "micro"
    default_db = f"sqlite:///{data_dir / 'lvd.sqlite3'}"
    redis_url = env.get("REDIS_URL", "")
    if not micro and not redis_url:
        raise ValueError("the full profile needs REDIS_URL")
    public_url = env.get("PUBLIC_URL") or (
        f"http://{env.get('HOST', '127.0.0.1')}:{_int(env, 'PORT', 5000)}"
        if micro
        else "http://127.0.0.1:8080"
    )
    # Cookies only over HTTPS when people reach the dashboard over HTTPS (a Secure cookie is
    # never sent back over plain http://, so a default of true would break `make run`).
    secure_cookies = _flag(env, "SESSION_COOKIE_SECURE", public_url.startswith("https://"))
    return {
        "PROFILE": profile,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": env.get("SECRET_KEY") or persistent_secret(data_dir / "secret_key"),
        "SQLALCHEMY_DATABASE_URI": database_uri(env.get("DATABASE_URL") or default_db),
        "REDIS_URL": redis_url,
        # micro: messages are files under the data folder, consumed by a worker in-process.
        "CELERY_BROKER_URL": "filesystem://" if micro else redis_url,
        "SMTP_URL": env.get("SMTP_URL", ""),
        # Set by `make run` when it starts its local mail sink, which prints codes (app/micro.py).
        "CODES_ON_CONSOLE": False,
        "MAIL_FROM": env.get("MAIL_FROM", "Live Validation <noreply@localhost>"),
        "HOST": env.get("HOST", "127.0.0.1"),
        "PORT": _int(env, "PORT", 5000),
        # micro also serves HTTPS here (Segment's mobile SDKs speak nothing else; see
        # docs/devices.md).
        "HTTPS_PORT": _https_port(env),
        # Where SDKs reach this service over HTTPS, for the app page's snippets; micro sets it
        # when it serves HTTPS. Empty: the page uses the address it was asked on.
        "PUBLIC_HTTPS_URL": env.get("PUBLIC_HTTPS_URL", ""),
        # micro's HTTP and HTTPS servers: how long one connection may stall (TLS handshake,
        # headers, body, idle keep-alive) before it is closed and its thread freed.
        "MICRO_SOCKET_TIMEOUT_SECONDS": float(env.get("MICRO_SOCKET_TIMEOUT_SECONDS", "30")),
        # host[:port] the SDK settings endpoint sends SDKs to (app/ingest/sdk_settings.py).
        # Empty: the Host the SDK dialled, which only suits a service reached under one name.
        "PUBLIC_API_HOST": _public_api_host(env),
        "DEDUP_WINDOW_SECONDS": _int(env, "DEDUP_WINDOW_SECONDS", 24 * 3600),
        "MAX_EVENT_BYTES": _int(env, "MAX_EVENT_BYTES", 32 * 1024),
        "MAX_REQUEST_BYTES": _int(env, "MAX_REQUEST_BYTES", 500 * 1024),
        "MAX_BATCH_EVENTS": _int(env, "MAX_BATCH_EVENTS", 2500),
        # The largest NDJSON (or gzip) file an import job takes; nginx.conf allows 51 MB.
        "IMPORT_MAX_BYTES": _int(env, "IMPORT_MAX_BYTES", 50 * 1024 * 1024),
        # Requests per write key per window; generous so one machine's test suite or load test
        # never meets it. 0 turns it off.
        "RATE_LIMIT_REQUESTS": _int(env, "RATE_LIMIT_REQUESTS", 20_000),
        "RATE_LIMIT_WINDOW_SECONDS": _int(env, "RATE_LIMIT_WINDOW_SECONDS", 1),
        # Requests (stream entries) waiting to be stored beyond which ingestion answers 503 (full
        # profile; 0 turns it off).
        "QUEUE_BACKLOG_LIMIT": _int(env, "QUEUE_BACKLOG_LIMIT", 200_000),
        # How long a process trusts its cached key → app lookup. The full profile also drops
        # entries at once when told over Redis; micro has no bus, so it re-reads often.
        "APP_CACHE_SECONDS": _int(env, "APP_CACHE_SECONDS", 2 if micro else 60),
        # Stored events older than this are deleted (an app may set its own); task ids are
        # answered for as long.
        "EVENT_RETENTION_DAYS": _int(env, "EVENT_RETENTION_DAYS", 30),
        "TASK_RETENTION_DAYS": _int(
            env, "TASK_RETENTION_DAYS", _int(env, "EVENT_RETENTION_DAYS", 30)
        ),
        # Beat's interval for counting new events into the statistics and checking alerts.
        "STATS_INTERVAL_SECONDS": float(env.get("STATS_INTERVAL_SECONDS", "60")),
        # Where people reach the dashboard, for links in e-mails (full: nginx of `make up`).
        "PUBLIC_URL": public_url,
        # The app the first confirmed account gets; set by `make run` (app/micro.py) only, so
        # nothing is given away in the full profile.
        "DEMO_APP_ID": None,
        "BROKER_TIMEOUT_SECONDS": float(env.get("BROKER_TIMEOUT_SECONDS", "0.5")),
        "TASK_WAIT_MAX_SECONDS": _int(env, "TASK_WAIT_MAX_SECONDS", 30),
        # How long a test run's admission counts (accepted, blocked) are kept after its last
        # event: a run's wait knows what is pending for this long (docs/test-run-wait.md).
        "TEST_RUN_COUNTS_SECONDS": _int(env, "TEST_RUN_COUNTS_SECONDS", 7 * 24 * 3600),
        # Long-polls (`?wait=`) waiting at once per server process, in all and per app; more
        # are answered 429. gunicorn.conf.py gives each worker this many threads on top of its
        # own, so waits never take the threads ingestion needs.
        "TASK_WAITS_PER_PROCESS": _int(env, "TASK_WAITS_PER_PROCESS", DEFAULT_WAITS_PER_PROCESS),
        "TASK_WAITS_PER_APP": _int(env, "TASK_WAITS_PER_APP", 2),
        # How many proxies in front of the app set X-Forwarded-For/-Proto (`make up`: 1, its
        # nginx). 0 (micro, or gunicorn reached directly) ignores those headers: anyone can
        # send them, so trusting them without a proxy would let a client pick its address.
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        # Failed logins allowed per address and per client IP in the window before both answer
        # 429; a success (or a password reset) clears the address's count. Code tries use the
        # per-account number per (address, client IP) and share the per-IP one.
        "LOGIN_FAILURES_PER_ACCOUNT": _int(env, "LOGIN_FAILURES_PER_ACCOUNT", 10),
        "LOGIN_FAILURES_PER_IP": _int(env, "LOGIN_FAILURES_PER_IP", 30),
        "LOGIN_FAILURE_WINDOW_SECONDS": _int(env, "LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60),
        # Account mails (sign-up, resend, reset) asked for. Per address from one client IP, in
        # the login window: a person retrying a lost mail needs a few, and someone else's asks
        # from another IP never use up the owner's. Per client IP across addresses, same
        # window: one machine cannot mail many inboxes (an office behind one NAT still can
        # ask a few). Per address per hour, from all IPs together: bounds mail bombing of one
        # inbox; generous (four IPs' worth) because once it is spent nobody gets a new mail
        # for that address until the hour ends - its owner still holds the codes sent.
        "MAILS_PER_ADDRESS_AND_IP": _int(env, "MAILS_PER_ADDRESS_AND_IP", 5),
        "MAILS_PER_IP": _int(env, "MAILS_PER_IP", 20),
        "MAILS_PER_ADDRESS_PER_HOUR": _int(env, "MAILS_PER_ADDRESS_PER_HOUR", 20),
        # Webhooks (docs/webhooks.md). `deny` refuses loopback, private and link-local targets,
        # checked on save and again on each send after resolving: a dashboard user could
        # otherwise make the server post into its own network. micro runs on a laptop, where
        # a local receiver is the point, so it allows them.
        "WEBHOOK_PRIVATE_ADDRESSES": _private_addresses(env, micro),
        "WEBHOOK_TIMEOUT_SECONDS": float(env.get("WEBHOOK_TIMEOUT_SECONDS", "5")),
        "WEBHOOK_RETRY_BASE_SECONDS": float(env.get("WEBHOOK_RETRY_BASE_SECONDS", "30")),
        "WEBHOOK_MAX_ATTEMPTS": _int(env, "WEBHOOK_MAX_ATTEMPTS", 6),
    }


def _private_addresses(env: Mapping[str, str], micro: bool) -> str:
    value = env.get("WEBHOOK_PRIVATE_ADDRESSES") or ("allow" if micro else "deny")
    if value not in ("allow", "deny"):
        raise ValueError(f"WEBHOOK_PRIVATE_ADDRESSES must be allow or deny, not {value!r}")
    return value


def micro_environment(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The settings `make run` serves: always the micro profile with its own data folder.

    Never what a running `make up` recorded (that is the full profile's database and data
    folder); an environment that asks for the full profile is refused with a reason.
    """
    profile = env.get("LVD_PROFILE", "")
    if profile and profile != "micro":
        raise ValueError(
            f"`make run` serves the micro profile, but LVD_PROFILE is {profile!r}: unset it, "
            "or start the full profile with `make up`"
        )
    if not profile and env.get("REDIS_URL"):
        raise ValueError(
            "`make run` serves the micro profile, but REDIS_URL is set, which selects the full "
            "profile: unset it (or set LVD_PROFILE=micro to keep it)"
        )
    return {**env, "LVD_PROFILE": "micro"}


def config_from_environment() -> dict[str, Any]:
    """Settings of this process: the environment, else what `make up` recorded, else micro.

    An environment that names its profile or data folder describes an instance of its own:
    then a running `make up` stack is none of its business.
    """
    if "LVD_PROFILE" in os.environ or "LVD_DATA_DIR" in os.environ:
        return build_config(os.environ)
    return build_config({**read_env_file(STACK_FILE), **os.environ})
