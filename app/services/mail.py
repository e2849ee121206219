"""Sending e-mail over SMTP (any server by URL; a local sink in micro mode and tests)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

# An account mail names its code and what it is for in these headers too, so micro's local
# mail sink can print the code on the console (app/micro.py) without parsing the text.
CODE_HEADER = "X-Live-Validation-Code"
CODE_FOR_HEADER = "X-Live-Validation-Code-For"


def send_mail(
    smtp_url: str,
    sender: str,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Send one message; smtp_url is smtp://[user:password@]host:port (smtps:// for TLS)."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ValueError(
            f"SMTP_URL must be smtp://host:port or smtps://host:port, not {smtp_url!r}"
        )
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), subject
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    client_cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with client_cls(
        url.hostname, url.port or (465 if url.scheme == "smtps" else 25), timeout=10
    ) as smtp:
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
