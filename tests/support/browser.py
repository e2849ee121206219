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
