"""Accounts against an attacker: login limits that count failures only, per address and per
client IP (behind a trusted proxy too), sessions that end everywhere, the same answer for
known and unknown addresses, security headers and cookie flags, read keys never in a cookie,
codes never in a queued message."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app.dashboard.security import HEADERS
from app.dashboard.shown_once import ShownOnce
from stack.servers import free_port
from tests.dashboard.helpers import (
    PASSWORD,
    csrf_token,
    deliver_mail,
    last_code,
    mailed,
    sign_up_and_verify,
    submit,
)
from tests.helpers import broker_messages

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


def login(
    client: FlaskClient, email: str, password: str, ip: str = "127.0.0.1", xff: str = ""
) -> int:
    """POST the login form from client address `ip` (with an X-Forwarded-For); the status."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
        headers={"X-Forwarded-For": xff} if xff else {},
    ).status_code


@pytest.fixture
def user(micro_app) -> str:
    """A verified account (logged out)."""
    sign_up_and_verify(micro_app.test_client(), micro_app, "user@example.com")
    return "user@example.com"


# --- limits -----------------------------------------------------------------------------------


def test_only_failures_count_and_a_success_clears_the_address(micro_app, user):
    client = micro_app.test_client()
    # Successes never count: far more than the limit of 10 in a row.
    assert [login(client, user, PASSWORD) for _ in range(15)] == [302] * 15
    # 9 failures, a success (which forgets them), then the full 10 failures again.
    assert [login(client, user, "wrong password") for _ in range(9)] == [200] * 9
    assert login(client, user, PASSWORD) == 302
    assert [login(client, user, "wrong password") for _ in range(10)] == [200] * 10
    assert login(client, user, "wrong password") == 429
    # Now locked: the right password is not even tried.
    assert login(client, user, PASSWORD) == 429


def test_one_address_is_locked_from_every_ip_and_an_unknown_one_alike(micro_app, user):
    client = micro_app.test_client()
    for email in (user, "nobody@example.com"):
        tries = [login(client, email, "wrong password", ip=f"198.51.100.{n}") for n in range(10)]
        assert tries == [200] * 10
        # An 11th address cannot go on: the account is locked, not the addresses.
        assert login(client, email, "wrong password", ip="198.51.100.200") == 429
    # Those IPs still log in to other accounts.
    sign_up_and_verify(micro_app.test_client(), micro_app, "other@example.com")
    assert login(client, "other@example.com", PASSWORD, ip="198.51.100.1") == 302


def test_one_ip_is_limited_across_addresses(make_app):
    flask_app = make_app("micro", LOGIN_FAILURES_PER_IP=5)
    client = flask_app.test_client()
    tries = [login(client, f"u{n}@example.com", "wrong", ip="198.51.100.7") for n in range(5)]
    assert tries == [200] * 5
    assert login(client, "fresh@example.com", "wrong", ip="198.51.100.7") == 429
    assert login(client, "fresh@example.com", "wrong", ip="198.51.100.8") == 200


def test_behind_the_trusted_proxy_each_client_is_limited_on_its_own_address(make_app):
    # Every request comes from nginx (127.0.0.1); nginx appends the client's address.
    flask_app = make_app("micro", TRUSTED_PROXIES=1, LOGIN_FAILURES_PER_IP=3)
    client = flask_app.test_client()
    tries = [login(client, f"a{n}@example.com", "wrong", xff="203.0.113.1") for n in range(3)]
    assert tries == [200] * 3
    assert login(client, "b@example.com", "wrong", xff="203.0.113.1") == 429
    # Another client behind the same nginx is not held back by the first one's failures...
    assert login(client, "b@example.com", "wrong", xff="203.0.113.2") == 200
    # ...and a client cannot pick its address: only the last entry (nginx's) is believed.
    assert login(client, "c@example.com", "wrong", xff="203.0.113.9, 203.0.113.1") == 429


def test_without_a_trusted_proxy_a_forged_forwarded_for_is_ignored(make_app):
    flask_app = make_app("micro", LOGIN_FAILURES_PER_IP=3)
    client = flask_app.test_client()
    for n in range(3):
        assert login(client, f"a{n}@example.com", "wrong", xff=f"203.0.113.{n}") == 200
    assert login(client, "b@example.com", "wrong", xff="203.0.113.99") == 429


def post(client: FlaskClient, url: str, fields: dict, ip: str = "127.0.0.1", xff: str = ""):
    """POST the form of the page at `url` from client address `ip`; the response."""
    return client.post(
        url,
        data={**fields, "csrf_token": csrf_token(client, url.split("?")[0])},
        environ_base={"REMOTE_ADDR": ip},
        headers={"X-Forwarded-For": xff} if xff else {},
    )


def _reset(client: FlaskClient, email: str, code: str, password: str, **client_address: str) -> int:
    """Confirm a password reset from a client address (`ip`, `xff` as post has them)."""
    fields = {"email": email, "code": code, "password": password}
    return post(client, "/reset/confirm", fields, **client_address).status_code


ATTACKER, OWNER = "198.51.100.66", "203.0.113.5"


def test_an_attacker_using_up_an_address_from_one_ip_does_not_lock_its_owner_out(any_app):
    email, new_password = "victim@example.com", "a brand new password"
    sign_up_and_verify(any_app.test_client(), any_app, email)
    client = any_app.test_client()
    # The attacker asks reset mails, fails logins and wrong codes until each says 429.
    mails = [post(client, "/reset", {"email": email}, ip=ATTACKER).status_code for _ in range(6)]
    assert mails == [302] * 5 + [429]
    assert [login(client, email, "wrong password", ip=ATTACKER) for _ in range(11)] == (
        [200] * 10 + [429]
    )
    codes = [_reset(client, email, "000000", new_password, ip=ATTACKER) for _ in range(11)]
    assert codes == [200] * 10 + [429]
    # Logins stay locked for the address, from every IP, the right password too...
    assert login(client, email, PASSWORD, ip=OWNER) == 429
    # ...but its owner, from another IP, gets a mail, and its code changes the password...
    assert post(client, "/reset", {"email": email}, ip=OWNER).status_code == 302
    assert _reset(client, email, last_code(any_app, email), new_password, ip=OWNER) == 302
    # ...which logs in at once: the address's failures are forgotten.
    assert login(client, email, new_password, ip=OWNER) == 302


def test_a_mailed_code_resets_the_password_while_logins_are_locked(micro_app, user):
    client = micro_app.test_client()
    assert [login(client, user, "wrong", ip=ATTACKER) for _ in range(11)][-1] == 429
    assert post(client, "/reset", {"email": user}, ip=OWNER).status_code == 302
    code, new_password = last_code(micro_app, user), "a brand new password"
    assert _reset(client, user, code, new_password, ip=OWNER) == 302
    assert login(client, user, new_password, ip=OWNER) == 302
    # The limit holds again from zero: 10 new failures lock the address once more.
    assert [login(client, user, "wrong", ip=ATTACKER) for _ in range(11)][-1] == 429


def test_one_ip_is_limited_in_mails_across_addresses_and_in_code_tries(make_app):
    flask_app = make_app("micro", MAILS_PER_IP=3, LOGIN_FAILURES_PER_IP=4)
    client = flask_app.test_client()
    mails = [
        post(client, "/reset", {"email": f"m{n}@example.com"}, ip=ATTACKER).status_code
        for n in range(4)
    ]
    assert mails == [302] * 3 + [429]
    assert post(client, "/reset", {"email": "m9@example.com"}, ip=OWNER).status_code == 302
    # Code tries, across addresses, share the IP's login limit.
    tries = [
        _reset(client, f"c{n}@example.com", "000000", "long enough!", ip=ATTACKER) for n in range(5)
    ]
    assert tries == [200] * 4 + [429]
    assert _reset(client, "c9@example.com", "000000", "long enough!", ip=OWNER) == 200


def test_mail_bombing_and_code_guessing_of_one_address_are_bounded(make_app):
    # Behind the trusted proxy, as `make up` runs: the clients' own addresses count.
    flask_app = make_app("micro", TRUSTED_PROXIES=1, MAILS_PER_ADDRESS_PER_HOUR=7)
    client = flask_app.test_client()
    email = "inbox@example.com"
    sign_up_and_verify(client, flask_app, email)  # one mail of the seven
    mails = [
        post(client, "/reset", {"email": email}, xff=f"198.51.100.{n // 5}").status_code
        for n in range(7)
    ]
    # From two IPs: their own quotas (5) allow more, the address's hour does not.
    assert mails == [302] * 6 + [429]
    assert post(client, "/reset", {"email": email}, xff="198.51.100.9").status_code == 429
    assert len([m for m in mailed(flask_app) if m["to"] == [email]]) == 7
    # Code tries per address: 5 per mail it may get in the hour (35), from any number of IPs.
    tries = [_reset(client, email, "000000", "long enough!", xff=f"10.0.{n}.1") for n in range(36)]
    assert tries == [200] * 35 + [429]


# --- sessions ---------------------------------------------------------------------------------


def _copy_session(client: FlaskClient, flask_app: Flask) -> FlaskClient:
    """Another client holding a saved copy of `client`'s session cookie."""
    thief = flask_app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_end_all_sessions_stops_a_saved_cookie(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "owner@example.com")
    saved = _copy_session(client, micro_app)
    assert saved.get("/apps").status_code == 200
    page = submit(client, "/apps", {}, action="/logout/everywhere")
    assert "You are logged out everywhere" in page.get_data(as_text=True)
    for each in (client, saved):
        answer = each.get("/apps")
        assert answer.status_code == 302 and answer.location.startswith("/login")
    # A new login works, and the saved cookie stays dead.
    assert login(client, "owner@example.com", PASSWORD) == 302
    assert client.get("/apps").status_code == 200
    assert saved.get("/apps").status_code == 302


def test_a_password_reset_stops_a_saved_cookie(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "owner@example.com")
    saved = _copy_session(client, micro_app)
    other = micro_app.test_client()
    submit(other, "/reset", {"email": "owner@example.com"})
    code = last_code(micro_app, "owner@example.com")
    page = submit(
        other,
        "/reset/confirm",
        {"email": "owner@example.com", "code": code, "password": "a brand new password"},
    )
    assert "Your password is changed" in page.get_data(as_text=True)
    for each in (client, saved):
        assert each.get("/apps").status_code == 302


def test_logout_empties_the_session(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "owner@example.com")
    submit(client, "/apps", {}, action="/logout")
    cookie = client.get_cookie("session")
    session = micro_app.session_interface.get_signing_serializer(micro_app).loads(cookie.value)
    assert "_user_id" not in session


# --- one answer for every address -------------------------------------------------------------


def _answer(flask_app: Flask, url: str, data: dict[str, str]) -> tuple[int, str, str]:
    """Status, redirect and page (after the redirect) of a form POST from a fresh client,
    with the address, CSRF tokens and the values they depend on masked."""
    client = flask_app.test_client()
    token = csrf_token(client, "/verify" if url == "/verify/resend" else url)
    first = client.post(url, data={**data, "csrf_token": token})
    location = first.headers.get("Location", "")
    page = client.get(location) if location else first
    email = data["email"]

    def mask(text: str) -> str:
        text = text.replace(quote(email, safe=""), "ADDRESS").replace(email, "ADDRESS")
        return re.sub(r'name="csrf_token"( type="hidden")? value="[^"]+"', "TOKEN", text)

    return first.status_code, mask(location), mask(page.get_data(as_text=True))


@pytest.fixture
def addresses(micro_app) -> dict[str, str]:
    """A verified account, an unverified one with a code waiting, and an unknown address."""
    sign_up_and_verify(micro_app.test_client(), micro_app, "known@example.com")
    submit(
        micro_app.test_client(), "/signup", {"email": "pending@example.com", "password": PASSWORD}
    )
    return {
        "known": "known@example.com",
        "pending": "pending@example.com",
        "unknown": "nobody@example.com",
    }


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/signup", {"password": PASSWORD}),
        ("/signup", {"password": "short"}),
        ("/verify", {"code": "000000"}),
        ("/verify/resend", {}),
        ("/reset", {}),
        ("/reset/confirm", {"code": "000000", "password": "a brand new password"}),
        ("/reset/confirm", {"code": "000000", "password": "short"}),
        ("/login", {"password": "wrong password"}),
    ],
)
def test_known_and_unknown_addresses_get_the_same_answer(micro_app, addresses, url, fields):
    answers = {
        kind: _answer(micro_app, url, {"email": email, **fields})
        for kind, email in addresses.items()
    }
    assert answers["known"] == answers["unknown"] == answers["pending"]
    assert "<main" in answers["unknown"][2]  # a page, not an error


def test_signing_up_with_a_taken_address_mails_its_owner(micro_app, addresses, smtp_sink):
    submit(micro_app.test_client(), "/signup", {"email": "known@example.com", "password": PASSWORD})
    submit(
        micro_app.test_client(), "/signup", {"email": "pending@example.com", "password": PASSWORD}
    )
    client = micro_app.test_client()
    deliver_mail(micro_app, smtp_sink.url)  # the fixture's sign-ups' too, as they are now
    received = smtp_sink.wait_for(4)
    assert (
        sorted(m["To"] for m in received) == ["known@example.com"] * 2 + ["pending@example.com"] * 2
    )
    notice = next(m for m in received if m["To"] == "known@example.com")
    assert b"already has an account" in notice.get_payload(decode=True)
    # The unconfirmed account got a fresh code, which confirms it.
    code_mail = [m for m in received if m["To"] == "pending@example.com"][-1]
    code = re.search(r"\b(\d{6})\b", code_mail["Subject"]).group(1)
    page = submit(client, "/verify", {"email": "pending@example.com", "code": code})
    assert "Your e-mail address is confirmed" in page.get_data(as_text=True)


# --- headers and cookies ----------------------------------------------------------------------


def test_every_answer_carries_the_security_headers(micro_app, user):
    client = micro_app.test_client()
    login(client, user, PASSWORD)
    answers = {
        "page": client.get("/apps"),
        "login page": micro_app.test_client().get("/login"),
        "error page": client.get("/apps/999"),
        "static": client.get("/static/app.css"),
        "api json": micro_app.test_client().get("/api/apps/1/events"),
        "ingest json": micro_app.test_client().post("/api/logs/nokey", json={"eventName": "e"}),
        "health": client.get("/healthz"),
    }
    for name, answer in answers.items():
        answer.close()  # the static file's
        for header, value in HEADERS.items():
            assert answer.headers.get(header) == value, (name, header)
    policy = HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert HEADERS["X-Frame-Options"] == "DENY"


def test_the_pages_need_no_inline_script_or_style():
    """What the policy would block: inline <script>, on*= handlers, style= attributes (mail
    templates are e-mails, not pages)."""
    offending = []
    for path in TEMPLATES.rglob("*.html"):
        if "mail" in path.parts:
            continue
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)", text) or re.search(r"\son\w+\s*=", text):
            offending.append(f"{path.name}: script")
        if re.search(r"\sstyle\s*=|<style", text):
            offending.append(f"{path.name}: style")
    assert offending == []


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_over_https(make_app):
    for settings, secure in (
        ({}, False),
        ({"PUBLIC_URL": "https://dashboard.example.com"}, True),
        ({"SESSION_COOKIE_SECURE": "1"}, True),
    ):
        flask_app = make_app("micro", **settings)
        cookie = flask_app.test_client().get("/login").headers["Set-Cookie"]
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "samesite"} <= flags, cookie
        assert "SameSite=Lax" in cookie
        assert ("secure" in flags) is secure, (settings, cookie)


# --- read keys and codes ----------------------------------------------------------------------


def _session_of(flask_app: Flask, answer) -> str:
    """Everything the answer's Set-Cookie headers carry, the signed session decoded."""
    text = " ".join(answer.headers.getlist("Set-Cookie"))
    match = re.search(r"session=([^;]+)", text)
    if match and match.group(1):
        serializer = flask_app.session_interface.get_signing_serializer(flask_app)
        text += json.dumps(serializer.loads(match.group(1)))
    return text


def test_a_read_key_is_shown_once_and_never_travels_in_a_cookie(any_app):
    client = any_app.test_client()
    sign_up_and_verify(client, any_app, "owner@example.com")
    created = client.post("/apps", data={"name": "Shop", "csrf_token": csrf_token(client, "/apps")})
    show = client.get(created.location)
    read_key = re.search(r"Read key \(shown only now\): (rk_[\w-]+)", show.get_data(as_text=True))
    assert read_key, "the new read key is on the app's page"
    read_key = read_key.group(1)
    assert show.headers["Cache-Control"] == "no-store"
    assert read_key not in _session_of(any_app, created) + _session_of(any_app, show)
    assert "Read key" not in client.get(created.location).get_data(as_text=True)  # once
    app_id = created.location.rsplit("/", 1)[1]
    events = any_app.test_client().get(
        f"/api/apps/{app_id}/events", headers={"Authorization": f"Bearer {read_key}"}
    )
    assert events.status_code == 200

    rotated = client.post(
        f"/apps/{app_id}/rotate-read-key", data={"csrf_token": csrf_token(client, created.location)}
    )
    page = client.get(rotated.location).get_data(as_text=True)
    new_key = re.search(r"Read key \(shown only now\): (rk_[\w-]+)", page).group(1)
    assert new_key != read_key
    assert new_key not in _session_of(any_app, rotated)


def _raw_messages(flask_app: Flask) -> str:
    """Every queued message, bodies decoded: what a broker or Flower can show."""
    texts = []
    for envelope in broker_messages(flask_app, queue="emails"):
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        texts.append(json.dumps(envelope) + body)
    return "\n".join(texts)


def test_no_code_travels_in_a_queued_message(any_app, smtp_sink):
    client = any_app.test_client()
    submit(client, "/signup", {"email": "new@example.com", "password": PASSWORD})
    submit(client, "/reset", {"email": "new@example.com"})
    queued = _raw_messages(any_app)
    assert deliver_mail(any_app, smtp_sink.url) == 2
    received = smtp_sink.wait_for(2)
    codes = [re.search(r"\b(\d{6})\b", mail["Subject"]).group(1) for mail in received]
    assert len(codes) == 2
    for code in codes:
        assert code not in queued
    # The reset code (the newest) works.
    page = submit(
        client,
        "/reset/confirm",
        {"email": "new@example.com", "code": codes[1], "password": "a brand new password"},
    )
    assert "Your password is changed" in page.get_data(as_text=True)


def test_a_read_key_store_without_redis_fails_softly(redis_server):
    store = ShownOnce(60, redis.Redis.from_url(redis_server.url, decode_responses=True))
    assert store.put("k", "rk_secret") and store.take("k") == "rk_secret"
    assert store.take("k") is None  # once
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    dead_store = ShownOnce(60, dead)
    assert dead_store.put("k", "rk_secret") is False
    assert dead_store.take("k") is None
    store._client.close()
    dead.close()
