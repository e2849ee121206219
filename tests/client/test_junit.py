"""The JUnit XML of `lvd run wait`, checked against the Jenkins xUnit plugin's JUnit schema
(tests/client/junit-10.xsd) and read back as a CI system reads it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from lvd import junit
from lvd.outcome import Outcome

from tests.client.helpers import HOSTILE, JUNIT_XSD, event, report, result, violation

URL = "http://127.0.0.1:8080/apps/1/test-runs/report?name=checkout-42"
NOW = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


def _xml(data: dict, waited: float = 1.25) -> ET.Element:
    document = junit.render(Outcome(data, URL, waited), NOW)
    JUNIT_XSD.validate(document.decode())  # raises XMLSchemaValidationError with the reason
    return ET.fromstring(document)


def _cases(suite: ET.Element) -> list[tuple[str, str, str | None]]:
    return [
        (
            c.get("classname"),
            c.get("name"),
            c.find("failure").get("type") if c.find("failure") is not None else None,
        )
        for c in suite.iter("testcase")
    ]


def test_a_passing_run_is_one_suite_of_passing_cases():
    data = report(
        results=[result("present", "Order Completed appears 1 to 1 times", True, "seen 1 time")]
    )
    suite = _xml(data)
    assert suite.tag == "testsuite"
    assert suite.get("name") == "lvd run checkout-42"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
    assert _cases(suite) == [
        ("settlement", "every accepted event settled", None),
        ("expectations", "Order Completed appears 1 to 1 times", None),
    ]
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run"] == "checkout-42"
    assert properties["url"] == URL
    assert properties["status"] == "PASSED"


def test_a_failing_run_has_a_case_per_expectation_and_per_failing_event():
    bad = event(
        7, "purchase", "invalid", [violation("/properties/price", "price must be a number")]
    )
    stray = event(9, "Debug Event", "unplanned", None)
    data = report(
        results=[
            result("present", "Order Completed appears 1 to 1 times", False, "seen 0 times"),
            result("absent", "Debug Event never appears", False, "seen 1 time", [stray]),
            result("invalid", "no invalid event", False, "1 invalid event", [bad]),
            result("unplanned", "no unplanned event", False, "1 unplanned event", [stray]),
        ],
        failures=[bad, stray],
    )
    suite = _xml(data)
    assert (suite.get("tests"), suite.get("failures")) == ("7", "6")
    assert _cases(suite) == [
        ("settlement", "every accepted event settled", None),
        ("expectations", "Order Completed appears 1 to 1 times", "present"),
        ("expectations", "Debug Event never appears", "absent"),
        ("expectations", "no invalid event", "invalid"),
        ("expectations", "no unplanned event", "unplanned"),
        ("purchase", "event #7 (invalid)", "invalid"),
        ("Debug Event", "event #9 (unplanned)", "unplanned"),
    ]
    failure = suite.find("testcase[@classname='purchase']/failure")
    assert failure.get("message") == "/properties/price: price must be a number"
    absent = suite.find("testcase[@name='Debug Event never appears']/failure")
    assert "#9 Debug Event" in absent.text


def test_events_an_expectation_allows_are_not_failures():
    allowed = event(7, "purchase", "invalid", [violation("/properties/price", "wrong")])
    data = report(
        results=[result("present", "purchase appears", True, "seen 1 time")], failures=[allowed]
    )
    suite = _xml(data)
    assert suite.get("failures") == "0"
    assert [c[0] for c in _cases(suite)] == ["settlement", "expectations"]


def test_without_expectations_every_invalid_or_unplanned_event_fails():
    data = report(failures=[event(3, "signup", "unplanned", None)])
    suite = _xml(data)
    assert _cases(suite)[-1] == ("signup", "event #3 (unplanned)", "unplanned")
    assert suite.find("testcase[@classname='signup']/failure").get("message") == (
        "the plan has no such event"
    )


def test_a_run_that_did_not_settle_fails_its_settlement_case():
    suite = _xml(report(accepted=10, pending=3), waited=300)
    case = suite.find("testcase[@classname='settlement']/failure")
    assert case.get("message") == "3 of 10 accepted events still pending after 300 s"
    assert case.get("type") == "not_settled"
    assert suite.get("time") == "300.000"


def test_blocked_events_fail_a_case_of_their_own():
    suite = _xml(report(blocked=2, passed=False))
    assert ("settlement", "no event was blocked", "blocked") in _cases(suite)


def test_hostile_names_stay_well_formed_and_valid():
    bad = event(5, HOSTILE, "invalid", [violation("/properties/" + HOSTILE, HOSTILE)])
    data = report(
        run=HOSTILE,
        results=[
            result("present", HOSTILE, False, HOSTILE, [bad]),
            result("invalid", "no invalid event", False, "1 invalid event", [bad]),
        ],
        failures=[bad],
    )
    suite = _xml(data)
    # Read back: every character XML can hold survives; the two it cannot are replaced.
    shown = HOSTILE.replace("\x01", "\ufffd").replace("\x1b", "\ufffd")
    assert suite.find("properties/property[@name='run']").get("value") == shown
    names = [(c[0], c[1]) for c in _cases(suite)]
    assert ("expectations", shown) in names
    assert (shown, "event #5 (invalid)") in names
    failure = suite.find("testcase[@name='event #5 (invalid)']/failure")
    assert failure.get("message") == f"/properties/{shown}: {shown}"
