"""The plan page's impact preview form: offered for a draft only; a good form starts a
re-validation of that draft since N days ago and shows its page (a range without events says
so once done); bad days or an unknown version
are refused with a message and start nothing; another user's app and jobs that are no preview
are 404. (tests/browser/test_plan_impact.py follows a preview to its result.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Job, TrackedApp
from app.services.jobs import imports, revalidation
from app.services.plans import versions as plans
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN
from tests.services.jobs.helpers import run_to_the_end


@pytest.fixture
def owner(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "impact-page@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    return client, app_id


def jobs_count(flask_app) -> int:
    """Re-validation jobs started."""
    with flask_app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "revalidate")
        )
        db.session.remove()
        return count


def save_draft(flask_app, app_id: int) -> int:
    with flask_app.app_context():
        saved = plans.save_plan(db.session.get(TrackedApp, app_id), DEMO_PLAN, publish=False)
        version = saved.version
        db.session.remove()
        return version


def test_a_draft_is_offered_a_preview_that_starts_a_job(micro_app, owner):
    client, app_id = owner
    plan_url = f"/apps/{app_id}/plan"
    assert 'id="impact"' not in client.get(plan_url).get_data(as_text=True)  # nothing drafted
    version = save_draft(micro_app, app_id)
    page = client.get(plan_url).get_data(as_text=True)
    assert f"Impact of draft v{version}" in page
    action = f"/apps/{app_id}/plan/{version}/impact"
    assert f'action="{action}"' in page

    shown = submit(client, plan_url, {"days": "3"}, action)
    assert shown.status_code == 200 and shown.request.path.startswith(f"{plan_url}/impact/")
    text = shown.get_data(as_text=True)
    assert "Waiting for a worker" in text and "the last 3 days" in text
    with micro_app.app_context():
        job = db.session.scalars(select(Job)).one()
        assert job.kind == "revalidate" and job.params["plan_version"] == version
        since = datetime.fromisoformat(job.params["since"])
        assert abs(since - (datetime.now(UTC) - timedelta(days=3))) < timedelta(minutes=1)
        job_id = job.id
        db.session.remove()
    assert run_to_the_end(micro_app, job_id)["state"] == "done"
    done = client.get(shown.request.path).get_data(as_text=True)
    assert "No events were stored in that time." in done and "Waiting for a worker" not in done
    # The plan page links the draft's previews.
    page = client.get(plan_url).get_data(as_text=True)
    assert f'href="{shown.request.path}"' in page and "3 days (done)" in page
    # A job started through the API with an inline plan and no range shows too.
    with micro_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        inline = revalidation.create(app, {"plan": DEMO_PLAN}).id
        db.session.remove()
    text = client.get(f"{plan_url}/impact/{inline}").get_data(as_text=True)
    assert "A plan sent to the API" in text and "against the stored events" in text


@pytest.mark.parametrize("days", ["0", "91", "soon", ""])
def test_bad_days_are_refused_with_a_message(micro_app, owner, days):
    client, app_id = owner
    version = save_draft(micro_app, app_id)
    plan_url = f"/apps/{app_id}/plan"
    answer = submit(client, plan_url, {"days": days}, f"/apps/{app_id}/plan/{version}/impact")
    assert answer.status_code == 200 and answer.request.path == plan_url
    assert "Impact preview:" in answer.get_data(as_text=True)
    assert jobs_count(micro_app) == 0


def test_an_unknown_version_is_refused_and_others_see_nothing(micro_app, owner):
    client, app_id = owner
    plan_url = f"/apps/{app_id}/plan"
    save_draft(micro_app, app_id)
    answer = submit(client, plan_url, {"days": "7"}, f"/apps/{app_id}/plan/99/impact")
    assert f"App {app_id} has no plan version 99." in answer.get_data(as_text=True)
    assert jobs_count(micro_app) == 0
    with micro_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        upload = imports.create(app, "a.ndjson", b'{"eventName": "x"}\n', 1 << 20).id
        db.session.remove()
    for job_id in (upload, 12345, 2**40):  # an import is no preview; no such job
        assert client.get(f"{plan_url}/impact/{job_id}").status_code == 404

    other = micro_app.test_client()
    sign_up_and_verify(other, micro_app, "someone-else@example.com")
    assert other.post(f"{plan_url}/2/impact", data={"days": "7"}).status_code in (400, 404)
    token_page = other.get("/apps").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', token_page)
    answer = other.post(f"{plan_url}/2/impact", data={"days": "7", "csrf_token": token.group(1)})
    assert answer.status_code == 404 and jobs_count(micro_app) == 0
