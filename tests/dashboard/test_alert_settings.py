"""The alert settings form on an app's page."""

from __future__ import annotations

import re

from app.extensions import db
from app.models import TrackedApp
from tests.dashboard.helpers import sign_up_and_verify, submit


def _settings(flask_app, app_id: int) -> tuple:
    with flask_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        return (
            app.alert_threshold,
            app.alert_window_minutes,
            app.alert_min_events,
            app.alert_cooldown_minutes,
        )


def _shown(page: str) -> str:
    """The threshold the form on the page shows."""
    return re.search(r'<input [^>]*name="threshold"[^>]*value="([^"]*)"', page).group(1)


def test_the_owner_sets_turns_off_and_is_refused_bad_alert_settings(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "owner@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/alerts"', page).group(1))
    assert _shown(page) == "20.0"  # the default: 20 %
    assert _settings(micro_app, app_id) == (0.2, 10, 20, 60)
    url, action = f"/apps/{app_id}", f"/apps/{app_id}/alerts"

    fields = {"threshold": "5.5", "window_minutes": "30", "min_events": "100"}
    page = submit(client, url, {**fields, "cooldown_minutes": "120"}, action=action)
    assert "Alert settings saved." in page.get_data(as_text=True)
    assert _settings(micro_app, app_id) == (0.055, 30, 100, 120)
    assert _shown(page.get_data(as_text=True)) == "5.5"

    page = submit(client, url, {**fields, "cooldown_minutes": "0"}, action=action)
    assert "Alert settings not saved" in page.get_data(as_text=True)
    page = submit(
        client, url, {**fields, "threshold": "101", "cooldown_minutes": "5"}, action=action
    )
    assert "Alert settings not saved" in page.get_data(as_text=True)
    assert _settings(micro_app, app_id) == (0.055, 30, 100, 120)

    submit(client, url, {**fields, "threshold": "", "cooldown_minutes": "5"}, action=action)
    assert _settings(micro_app, app_id) == (None, 30, 100, 5)  # no alerts
