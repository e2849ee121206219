"""Helpers of the browser tests: screenshots, and the app behind a live HTTP server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page

from stack.servers import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def screenshot(page: Page, name: str) -> Path:
    """Save a PNG of the page as test-artifacts/screenshots/<name>.png; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass(frozen=True)
class LiveServer:
    """The app behind a real HTTP server: `url` for the browser, `app` for setting up data."""

    url: str
    app: Flask


def log_in(page: Page, url: str, email: str, password: str) -> None:
    """Sign in through the login form, as a user does, and wait for the apps page."""
    page.goto(f"{url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/apps")


def csp_refusals(page: Page) -> list[str]:
    """A list that fills with the browser's Content-Security-Policy refusals on this page (a
    test asserts it stays empty: an inline script or style the policy blocked)."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    return refused
