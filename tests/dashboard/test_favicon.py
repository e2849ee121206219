"""The site's icon: every page links it, and /favicon.ico (which browsers ask for on their own)
answers it instead of a 404."""

from __future__ import annotations

import re


def _get(client, path: str) -> tuple[int, str, bytes]:
    """Status, type and body of a GET, its file closed (static files are streamed)."""
    with client.get(path) as response:
        return response.status_code, response.mimetype, response.data


def test_every_page_links_the_icon_and_favicon_ico_answers_it(micro_app):
    client = micro_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    link = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page)
    assert link, "no icon linked from base.html"
    linked = _get(client, link[1])
    assert linked[:2] == (200, "image/svg+xml")
    ico = _get(client, "/favicon.ico")
    assert ico[:2] == (200, "image/svg+xml")
    assert ico[2] == linked[2] and ico[2].startswith(b"<svg")
    # Allowed by the page's Content-Security-Policy (images from 'self').
    assert "img-src 'self'" in client.get("/login").headers["Content-Security-Policy"]
