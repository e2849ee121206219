from tests.conftest import add_app


def test_event_is_accepted_with_its_verdict(any_app):
    new = add_app(any_app, plan={"events": {"user_login": {"type": "object"}}})
    response = any_app.test_client().post(
        f"/api/logs/{new.app.write_key}", json={"eventName": "user_login", "userId": 123}
    )
    assert response.status_code == 202
    assert response.json["status"] == "valid"
