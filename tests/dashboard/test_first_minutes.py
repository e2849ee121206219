"""The first minutes in micro: the demo app goes to the first account confirmed (exactly one,
even when several confirm at once), and a new app starts from a template plan or an uploaded
plan file, checked like every plan save."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp, User
from app.services import apps as app_service
from app.services.accounts.users import verify_email_now
from app.validation.plan import MAX_PLAN_BYTES
from tests.dashboard.helpers import PASSWORD, csrf_token, mailed, sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app


def owner_of(flask_app, app_id: int) -> str | None:
    with flask_app.app_context():
        owner_id = db.session.get(TrackedApp, app_id).owner_id
        email = db.session.get(User, owner_id).email if owner_id is not None else None
        db.session.remove()
        return email


@pytest.fixture
def demo(any_app):
    """The demo app as `make run` makes it: the demo plan, no owner, its id in DEMO_APP_ID."""
    new = add_app(any_app, "demo", DEMO_PLAN)
    any_app.config["DEMO_APP_ID"] = new.app.id
    return new.app.id


def test_the_first_confirmed_account_gets_the_demo_app_and_the_second_does_not(any_app, demo):
    first, second = any_app.test_client(), any_app.test_client()
    sign_up_and_verify(first, any_app, "first@example.com")
    assert owner_of(any_app, demo) == "first@example.com"
    page = first.get("/apps").get_data(as_text=True)
    assert f'href="/apps/{demo}">demo</a>' in page
    assert first.get(f"/apps/{demo}/live").status_code == 200

    sign_up_and_verify(second, any_app, "second@example.com")
    assert owner_of(any_app, demo) == "first@example.com"
    assert "No apps yet" in second.get("/apps").get_data(as_text=True)
    assert second.get(f"/apps/{demo}/live").status_code == 404


def test_an_account_signed_up_but_not_confirmed_gets_nothing(any_app, demo):
    client = any_app.test_client()
    page = submit(client, "/signup", {"email": "typo@example.com", "password": PASSWORD})
    assert owner_of(any_app, demo) is None
    # No local mail sink started here (only `make run` starts one): no hint about the console.
    assert "code-on-console" not in page.get_data(as_text=True)


def test_a_reset_code_confirms_the_address_and_so_claims_the_demo_app(micro_app):
    """Signed up, never confirmed, then reset the password: the reset code came through the
    mailbox, so it confirms the address, and the first confirmed account gets the demo app."""
    demo = add_app(micro_app, "demo", DEMO_PLAN).app.id
    micro_app.config["DEMO_APP_ID"] = demo
    client, email = micro_app.test_client(), "late@example.com"
    submit(client, "/signup", {"email": email, "password": PASSWORD})
    submit(client, "/reset", {"email": email})
    [reset] = [m for m in mailed(micro_app) if "new password" in m["text"]]
    code = re.search(r"\b(\d{6})\b", reset["text"]).group(1)
    page = submit(
        client,
        f"/reset/confirm?email={email}",
        {"email": email, "code": code, "password": "another good password"},
        action="/reset/confirm",
    )
    assert "Your password is changed" in page.get_data(as_text=True)
    assert owner_of(micro_app, demo) == email


def test_without_a_demo_app_id_nothing_is_given_away(full_app):
    """The full profile never sets DEMO_APP_ID: an app named demo stays unowned."""
    assert full_app.config["DEMO_APP_ID"] is None
    demo = add_app(full_app, "demo", DEMO_PLAN).app.id
    sign_up_and_verify(full_app.test_client(), full_app, "first@example.com")
    assert owner_of(full_app, demo) is None


def test_accounts_confirmed_at_once_leave_exactly_one_owner(any_app, demo):
    """Eight confirmations racing (SQLite in micro, PostgreSQL in full): one claim wins."""
    with any_app.app_context():
        emails = [f"racer{i}@example.com" for i in range(8)]
        db.session.add_all(User(email=e, password_hash="x") for e in emails)
        db.session.commit()
        ids = dict(db.session.execute(select(User.email, User.id)).all())
        db.session.remove()
    start, won, errors = threading.Barrier(len(emails)), [], []

    def confirm(email: str) -> None:
        try:
            with any_app.app_context():
                user = db.session.get(User, ids[email])
                start.wait(timeout=10)
                verify_email_now(user)
                if app_service.claim_if_unowned(demo, user.id):
                    won.append(email)
                db.session.remove()
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=confirm, args=(e,)) for e in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(won) == 1
    assert owner_of(any_app, demo) == won[0]


def test_two_verifications_at_once_through_the_page_leave_one_owner(any_app, demo):
    """Two people confirm their codes at the same moment, each in their own session. (The
    requests' own work spreads them out, so a read-then-write claim slips through here: the
    eight-thread test above is the one that catches that.)"""
    emails = ["one@example.com", "two@example.com"]
    clients = {email: any_app.test_client() for email in emails}
    for email, client in clients.items():
        submit(client, "/signup", {"email": email, "password": PASSWORD})
    # One look at the queued mails: each look draws new codes (only the newest works).
    codes = {m["to"][0]: re.search(r"\b(\d{6})\b", m["text"]).group(1) for m in mailed(any_app)}
    tokens = {email: csrf_token(clients[email], f"/verify?email={email}") for email in emails}
    start, pages = threading.Barrier(len(emails)), {}

    def confirm(email: str) -> None:
        form = {"email": email, "code": codes[email], "csrf_token": tokens[email]}
        start.wait(timeout=10)
        answer = clients[email].post("/verify", data=form, follow_redirects=True)
        pages[email] = answer.get_data(as_text=True)

    threads = [threading.Thread(target=confirm, args=(e,)) for e in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all("Your e-mail address is confirmed" in page for page in pages.values())
    told = [email for email, page in pages.items() if "The demo app is yours" in page]
    assert len(told) == 1
    assert owner_of(any_app, demo) == told[0]


# New apps from a template plan, or from an uploaded file.


@pytest.fixture
def client(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "dev@example.com")
    return client


def new_app(client, name: str, template: str, plan_file: bytes | None = None):
    data = {"csrf_token": csrf_token(client, "/apps"), "name": name, "template": template}
    if plan_file is not None:
        data["plan_file"] = (io.BytesIO(plan_file), "plan.json")
    return client.post("/apps", data=data, content_type="multipart/form-data")


def the_app(flask_app, name: str) -> tuple[int | None, list[str]]:
    """An app's published plan version and its plan's event names."""
    with flask_app.app_context():
        app = app_service.find_app(name)
        from app.services.plans.versions import published_body

        events = list(published_body(app.id, app.plan_version).get("events", {}))
        version = app.plan_version
        db.session.remove()
        return version, events


def test_a_new_app_starts_from_the_demo_plan(micro_app, client):
    answer = new_app(client, "shop", "demo")
    assert answer.status_code == 302
    assert the_app(micro_app, "shop") == (1, list(DEMO_PLAN["events"]))
    plan_page = client.get(answer.location + "/plan").get_data(as_text=True)
    assert "user_login" in plan_page and "purchase" in plan_page


def test_a_new_app_starts_empty_by_default(micro_app, client):
    assert new_app(client, "blank", "empty").status_code == 302
    assert the_app(micro_app, "blank") == (None, [])
    page = client.get("/apps").get_data(as_text=True)
    assert '<input checked id="template-0" name="template" type="radio" value="empty">' in page


def test_a_new_app_starts_from_an_uploaded_plan(micro_app, client):
    plan = {"events": {"checkout": {"type": "object", "required": ["total"]}}}
    assert new_app(client, "mine", "upload", json.dumps(plan).encode()).status_code == 302
    assert the_app(micro_app, "mine") == (1, ["checkout"])


@pytest.mark.parametrize(
    ("upload", "problem"),
    [
        (  # RE2 has no lookahead: refused like any plan save with such a pattern
            {"events": {"a": {"type": "object", "properties": {"b": {"pattern": "(?=x)y"}}}}},
            "pattern &#39;(?=x)y&#39; at /properties/b/pattern cannot be used: it uses lookahead",
        ),
        (  # found only by the save itself, after the app row was written: rolled back
            {"events": {"loop": {"$ref": "#"}}},
            "The schema of &#39;loop&#39; refers to itself without end",
        ),
        ({"events": {"a\u0000": {}}}, "NUL character"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ({"event": {}}, "no &#39;events&#39; object"),
        (b" " * (MAX_PLAN_BYTES + 1), f"at most {MAX_PLAN_BYTES:,}"),
        (None, "Choose the plan file to upload"),
    ],
)
def test_a_refused_upload_names_the_problem_and_creates_nothing(micro_app, client, upload, problem):
    body = json.dumps(upload).encode() if isinstance(upload, dict) else upload
    answer = new_app(client, "refused", "upload", body)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "The app was not created" in page and problem in page
    assert 'value="refused"' in page  # the name typed is kept
    assert ">refused</a>" not in page  # and not listed: no row was kept
    with micro_app.app_context():
        assert app_service.find_app("refused") is None


def test_a_file_with_another_template_is_refused(micro_app, client):
    answer = new_app(client, "mixed", "demo", b'{"events": {}}')
    assert answer.status_code == 400
    assert "choose the upload" in answer.get_data(as_text=True)
