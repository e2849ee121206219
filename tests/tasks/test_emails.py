"""The `emails` queue: mail goes over real SMTP to a local sink."""

import pytest

from app.services.mail import send_mail
from app.tasks.emails import send_email_async


def test_send_email_async_delivers_text_and_html_over_smtp(micro_app, smtp_sink):
    micro_app.config["SMTP_URL"] = smtp_sink.url
    with micro_app.app_context():
        send_email_async.apply(
            args=(["dev@example.com"], "Your code", "Code: 123456"),
            kwargs={"html": "<p>Code: <b>123456</b></p>"},
        )
    (mail,) = smtp_sink.wait_for(1)
    assert mail["To"] == "dev@example.com"
    assert mail["Subject"] == "Your code"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert "Code: 123456" in parts["text/plain"]
    assert "<b>123456</b>" in parts["text/html"]


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:25", "smtp://"])
def test_a_malformed_smtp_url_is_refused(url):
    with pytest.raises(ValueError, match="SMTP_URL"):
        send_mail(url, "a@b.c", ["d@e.f"], "s", "t")
