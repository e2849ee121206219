"""Accounts: sign-up with an e-mailed code, login, logout, password reset, CSRF, throttling.

Bad inputs tried: a short password, a wrong / reused / over-tried code, a login before
verification, a wrong password, a POST without a CSRF token, too many logins. What an attacker
could try against accounts (limits, sessions, answers, headers): test_account_hardening.py."""

from __future__ import annotations

import re

import pytest

from app.services.accounts.users import CODE_REFUSED
from tests.dashboard.helpers import (
    PASSWORD,
    csrf_token,
    deliver_mail,
    last_code,
    mailed,
    sign_up_and_verify,
    submit,
)


@pytest.fixture
def client(micro_app):
    return micro_app.test_client()


def test_sign_up_mails_a_code_that_verifies_the_address_and_logs_in(micro_app, client):
    page = submit(client, "/signup", {"email": "Dev@Example.com", "password": PASSWORD})
    assert "We sent an e-mail to dev@example.com" in page.get_data(as_text=True)
    [mail] = mailed(micro_app)
    assert mail["to"] == ["dev@example.com"]
    code = re.search(r"\b(\d{6})\b", mail["text"]).group(1)
    assert code in mail["subject"] and code in mail["html"]
    page = submit(
        client,
        "/verify?email=dev@example.com",
        {"email": "dev@example.com", "code": code},
        action="/verify",
    )
    body = page.get_data(as_text=True)
    assert "Your e-mail address is confirmed" in body and "Your apps" in body
    # The same code a second time is spent.
    client2 = micro_app.test_client()
    again = submit(client2, "/verify", {"email": "dev@example.com", "code": code}).get_data(
        as_text=True
    )
    assert CODE_REFUSED in again


def test_the_code_mail_really_goes_out_over_smtp_and_its_code_works(micro_app, client, smtp_sink):
    submit(client, "/signup", {"email": "qa@example.com", "password": PASSWORD})
    assert deliver_mail(micro_app, smtp_sink.url) == 1
    [received] = smtp_sink.wait_for(1)
    assert received["To"] == "qa@example.com"
    code = re.search(r"\b(\d{6})\b", received["Subject"]).group(1)
    page = submit(client, "/verify", {"email": "qa@example.com", "code": code})
    assert "Your e-mail address is confirmed" in page.get_data(as_text=True)


def test_a_wrong_code_is_refused_and_five_tries_use_it_up(micro_app, client):
    submit(client, "/signup", {"email": "a@example.com", "password": PASSWORD})
    code = last_code(micro_app, "a@example.com")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        page = submit(client, "/verify", {"email": "a@example.com", "code": wrong})
        assert CODE_REFUSED in page.get_data(as_text=True)
    page = submit(client, "/verify", {"email": "a@example.com", "code": code})
    assert CODE_REFUSED in page.get_data(as_text=True)
    assert client.get("/apps").status_code == 302  # not logged in
    # A new code works.
    client.post(
        "/verify/resend",
        data={"email": "a@example.com", "csrf_token": csrf_token(client, "/verify")},
    )
    fresh = last_code(micro_app, "a@example.com")
    page = submit(client, "/verify", {"email": "a@example.com", "code": fresh})
    assert "Your e-mail address is confirmed" in page.get_data(as_text=True)


def test_sign_up_refuses_a_short_password(micro_app, client):
    short = submit(client, "/signup", {"email": "c@example.com", "password": "short"})
    assert "at least 10 characters" in short.get_data(as_text=True)
    assert mailed(micro_app) == []


def test_login_needs_a_verified_address_and_the_right_password(micro_app, client):
    submit(client, "/signup", {"email": "d@example.com", "password": PASSWORD})
    unverified = submit(client, "/login", {"email": "d@example.com", "password": PASSWORD})
    assert "Confirm your e-mail address first" in unverified.get_data(as_text=True)
    code = last_code(micro_app, "d@example.com")
    submit(client, "/verify", {"email": "d@example.com", "code": code})
    submit(client, "/apps", {}, action="/logout")
    assert client.get("/apps").status_code == 302  # logged out: to the login page
    wrong = submit(client, "/login", {"email": "d@example.com", "password": "not the password"})
    assert "Wrong e-mail address or password" in wrong.get_data(as_text=True)
    right = submit(client, "/login", {"email": "D@example.com", "password": PASSWORD})
    assert "Your apps" in right.get_data(as_text=True)


def test_a_form_posted_without_its_csrf_token_is_refused(micro_app, client):
    response = client.post("/login", data={"email": "e@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_logins_are_throttled_per_address(micro_app, client):
    statuses = [
        client.post(
            "/login",
            data={
                "email": "f@example.com",
                "password": "wrong password",
                "csrf_token": csrf_token(client, "/login"),
            },
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]


def test_password_reset_by_mailed_code(micro_app, client):
    sign_up_and_verify(client, micro_app, "g@example.com")
    submit(client, "/apps", {}, action="/logout")
    page = submit(client, "/reset", {"email": "g@example.com"})
    assert "a code is on its way" in page.get_data(as_text=True)
    # An unknown address gets the same answer and no mail.
    before = len(mailed(micro_app))
    unknown = submit(client, "/reset", {"email": "nobody@example.com"})
    assert "a code is on its way" in unknown.get_data(as_text=True)
    assert len(mailed(micro_app)) == before
    code = last_code(micro_app, "g@example.com")
    new_password = "a brand new password"
    page = submit(
        client,
        "/reset/confirm",
        {"email": "g@example.com", "code": code, "password": new_password},
    )
    assert "Your password is changed" in page.get_data(as_text=True)
    old = submit(client, "/login", {"email": "g@example.com", "password": PASSWORD})
    assert "Wrong e-mail address or password" in old.get_data(as_text=True)
    new = submit(client, "/login", {"email": "g@example.com", "password": new_password})
    assert "Your apps" in new.get_data(as_text=True)
