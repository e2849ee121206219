"""Security headers every answer carries: the dashboard's pages run no inline script and are
never framed (so a one-click button like "rotate key" cannot be clickjacked)."""

from __future__ import annotations

from flask import Response

# Scripts and styles come from /static only: the templates have no inline <script>, no on*=
# handler and no style= attribute (a CSP violation would silently stop live.js).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """Add HEADERS where the view did not set its own."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
