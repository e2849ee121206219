"""Arbitrary JSON in every field position of every ingestion endpoint, as an attacker holding
one app's public write key would send it.

Whatever arrives, the answer is 2xx or a JSON 4xx ({"code", "message"}), never a 5xx; and every
event the service accepted is stored and readable afterwards through every read path: the events
API, the live page's JSON, the task status, the test-run report, the overview and the regression
report. The full profile is used because PostgreSQL refuses more than SQLite does (NUL, years
outside its range).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.services.statistics.aggregates import recount
from app.tasks.events import drain_events
from tests.helpers import DEMO_PLAN
from tests.properties.strategies import (
    ENDPOINTS,
    answers_of,
    body_for,
    dumps_raw,
    login_owner,
    test_run_headers,
)
from tests.support.profiles import add_app

# Examples per endpoint; the note of issue 13 quotes these.
EXAMPLES = 120


def test_no_input_gets_a_5xx_and_every_accepted_event_reads_back(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    app_id, write_key, read_key = shop.app.id, shop.app.write_key, shop.read_key
    api = full_app.test_client()
    owner = login_owner(full_app, app_id)
    bearer = {"Authorization": f"Bearer {read_key}"}
    basic = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    tried: dict[str, int] = {}
    outcomes: dict[str, int] = {"2xx": 0, "4xx": 0, "events stored": 0}

    @settings(
        max_examples=EXAMPLES * len(ENDPOINTS),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        derandomize=True,  # the same examples on every run, so CI is repeatable
    )
    @given(
        request=st.sampled_from(ENDPOINTS).flatmap(lambda k: st.tuples(st.just(k), body_for(k))),
        test_run=test_run_headers,
    )
    def check(request: tuple[str, Any], test_run: str | None) -> None:
        kind, body = request
        tried[kind] = tried.get(kind, 0) + 1
        headers = {"Content-Type": "application/json"}
        if test_run is not None:
            headers["X-Test-Run"] = test_run
        if kind == "native":
            path = f"/api/logs/{write_key}"
        elif kind == "native batch":
            path = f"/api/logs/{write_key}/batch"
        else:
            path, headers["Authorization"] = f"/v1/{kind}", basic
        response = api.post(path, data=dumps_raw(body).encode(), headers=headers)
        assert response.status_code < 500, (path, response.get_data(as_text=True)[:500])
        answer = response.get_json(silent=True)
        assert isinstance(answer, dict), response.get_data()[:200]
        if response.status_code >= 400:
            assert set(answer) >= {"code", "message"}, answer
            outcomes["4xx"] += 1
            outcomes[answer["code"]] = outcomes.get(answer["code"], 0) + 1
            return
        outcomes["2xx"] += 1
        accepted = [
            a["task_id"]
            for a in answers_of(answer)
            if a["status"] not in ("rejected", "duplicate") and not a.get("blocked")
        ]
        with full_app.app_context():
            drain_events.apply()
            db.session.remove()
        _reads_answer(accepted)
        outcomes["events stored"] += len(accepted)

    def _reads_answer(accepted: list[str]) -> None:
        for task_id in accepted:
            state = api.get(f"/api/tasks/{task_id}", headers=bearer)
            assert state.status_code == 200, state.get_data(as_text=True)[:500]
            assert state.json["state"] == "stored", state.json
        events = api.get(f"/api/apps/{app_id}/events?limit=200", headers=bearer)
        assert events.status_code == 200, events.get_data(as_text=True)[:500]
        live = owner.get(f"/apps/{app_id}/events.json")
        assert live.status_code == 200, live.get_data(as_text=True)[:500]
        for event in events.json["events"][:20]:
            if event["test_run"]:
                # By ?name=: a run named "." or ".." has no path of its own (docs/test-runs.md).
                run = api.get(
                    "/api/test-runs", query_string={"name": event["test_run"]}, headers=bearer
                )
                assert run.status_code == 200, run.get_data(as_text=True)[:500]
        with full_app.app_context():
            recount(app_id, 24)
            db.session.remove()
        overview = owner.get(f"/apps/{app_id}/overview")
        assert overview.status_code == 200, overview.get_data(as_text=True)[:500]
        versions = {e["app_version"] for e in events.json["events"] if e["app_version"]}
        for version in list(versions)[:3]:
            report = api.get(
                f"/api/apps/{app_id}/regressions",
                query_string={"base": version, "head": "1.0"},
                headers=bearer,
            )
            assert report.status_code in (200, 400, 404), report.get_data(as_text=True)[:500]
            assert set(report.json) >= ({"code", "message"} if report.status_code >= 400 else set())

    check()
    print(f"\nexamples per endpoint: {json.dumps(tried, sort_keys=True)}; outcomes: {outcomes}")
    # Enough of each, and enough accepted, that the read-back half means something.
    assert all(tried.get(kind, 0) >= EXAMPLES // 2 for kind in ENDPOINTS), tried
    assert outcomes["2xx"] >= len(ENDPOINTS) * EXAMPLES // 6, outcomes
