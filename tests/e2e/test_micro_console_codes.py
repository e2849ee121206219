"""`make run` prints the codes it mails (sign-up, password reset) on its console, taken from the
message the local mail sink received; other mail shows as a subject line only. Started as a
user starts it (python run.py), driven over real HTTP and SMTP."""

from __future__ import annotations

import http.cookiejar
import re
import smtplib
import urllib.parse
import urllib.request

import pytest

from stack.servers import wait_until
from tests.dashboard.helpers import PASSWORD
from tests.support.micro import MicroServer, console_code


@pytest.fixture
def micro(tmp_path):
    server = MicroServer(tmp_path / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


class Browser:
    """Forms over HTTP with a cookie jar and each form's CSRF token, as a browser sends them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def submit(self, page: str, action: str, fields: dict[str, str]) -> str:
        """Post a form of `page` to `action` with the page's CSRF token; the page it ends on."""
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', self.get(page))
        data = urllib.parse.urlencode({**fields, "csrf_token": token.group(1)}).encode()
        with self.opener.open(self.base + action, data=data, timeout=30) as response:
            return response.read().decode()


def test_the_sign_up_and_reset_codes_are_printed_on_the_console(micro):
    browser = Browser(micro.url)
    email = "dev@example.com"
    browser.submit("/signup", "/signup", {"email": email, "password": PASSWORD})
    code = console_code(micro, email, "sign-up")
    page = browser.submit(f"/verify?email={email}", "/verify", {"email": email, "code": code})
    assert "Your e-mail address is confirmed" in page
    # The first confirmed account got the demo app.
    assert "The demo app is yours" in page and ">demo</a>" in page

    browser.submit("/reset", "/reset", {"email": email})
    reset = console_code(micro, email, "password reset")
    page = browser.submit(
        "/reset/confirm",
        "/reset/confirm",
        {"email": email, "code": reset, "password": "another good password"},
    )
    assert "Your password is changed" in page
    # A restart names the demo app's owner.
    micro.stop()
    micro.start()
    assert f"demo app {micro.keys()['app_id']}: owner {email}" in micro.log.read_text()


def test_other_mail_shows_as_its_subject_only(micro):
    port = re.findall(r"mail sink: smtp://127.0.0.1:(\d+)", micro.log.read_text())[-1]
    with smtplib.SMTP("127.0.0.1", int(port), timeout=10) as smtp:
        smtp.sendmail(
            "a@example.com",
            ["ops@example.com"],
            "To: ops@example.com\nSubject: 12% of shop failed\n\nthe secret body 654321\n",
        )
    line = "mail to ops@example.com: '12% of shop failed' (filed in the mail sink's new/ folder)"
    wait_until(lambda: line in micro.log.read_text(), 10, "the mail's line")
    assert "654321" not in micro.log.read_text()
