"""PII detection (app/validation/pii.py): a table of values it must find and values it must not
take for personal data, masks, the plan's "pii": true flag, the bounds, and Hypothesis checks
that masking never gives the raw value back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.validation import compile_plan, pii
from app.validation.expectations import Budget, RunEvent, check, parse_expectations
from app.validation.verdict import INVALID, UNPLANNED, VALID, Verdict

# (value, kind found, the raw match, its mask)
FOUND = [
    ("john.doe@example.com", "email", "john.doe@example.com", "j•••@e•••.com"),
    ("Mail me at ann+tag@shop.example.co.uk today", "email", "ann+tag@shop.example.co.uk", None),
    ("+14155552671", "phone", "+14155552671", "+•••••••••71"),
    ("+49 151 12345678", "phone", "+49 151 12345678", "+•••••••••••78"),
    ("call +44 20 7946 0958 after 5", "phone", "+44 20 7946 0958", None),
    ("(555) 123-4567", "phone", "(555) 123-4567", "••••••••67"),
    ("555-123-4567", "phone", "555-123-4567", None),
    ("030 1234567", "phone", "030 1234567", None),
    ("4242 4242 4242 4242", "card", "4242 4242 4242 4242", "•••• 4242"),
    ("card 4111-1111-1111-1111 declined", "card", "4111-1111-1111-1111", "•••• 1111"),
    ("378282246310005", "card", "378282246310005", "•••• 0005"),
    ("5555555555554444", "card", "5555555555554444", None),
    ("4222222222222", "card", "4222222222222", "•••• 2222"),  # 13 digits (an old Visa)
    ("192.168.1.10", "ip", "192.168.1.10", "192.•.•.•"),
    ("client 8.8.4.4 said hi", "ip", "8.8.4.4", "8.•.•.•"),
    ("2001:db8::8a2e:370:7334", "ip", "2001:db8::8a2e:370:7334", "2001:•:•:•"),
    ("fe80::1", "ip", "fe80::1", None),
    ("DE89370400440532013000", "iban", "DE89370400440532013000", "DE••…••00"),
    ("pay to DE89 3704 0044 0532 0130 00 BIC X", "iban", "DE89 3704 0044 0532 0130 00", None),
    ("GB82 WEST 1234 5698 7654 32", "iban", "GB82 WEST 1234 5698 7654 32", "GB••…••32"),
    ("123-45-6789", "ssn", "123-45-6789", "•••-••-••89"),
    ("my ssn is 078-05-1120.", "ssn", "078-05-1120", None),
]

# (value, the property holding it): none of these is personal data.
NOT_FOUND = [
    ("icon@2x.png", "image"),  # mobile apps' scaled assets
    ("Images/logo@1.5x.jpeg", "image"),
    ("ORD-2024-000123", "order_id"),
    ("order ORD-2024-000123 shipped", "note"),
    ("1234567890123456", "account_id"),  # 16 digits, Luhn fails
    ("9999999999999999", "id"),
    ("1234567812345670", "id"),  # Luhn passes, but no card starts with 1
    ("4111111111111112", "id"),  # a Visa prefix, Luhn fails
    ("2024-01-15T10:30:00Z", "ts"),
    ("2024-01-15T10:30:00.123+02:00", "ts"),
    ("2024-01-15 10:30:00", "ts"),
    ("1733356800", "epoch"),
    ("1733356800123", "epoch_ms"),
    ("1.2.3", "version"),
    ("10.0.19045.2965", "os"),
    ("1.2.3.4", "app_version"),
    ("1.2.3.4", "build"),
    ("v2.3.1-beta.4", "release"),
    ("550e8400-e29b-41d4-a716-446655440000", "id"),
    ("19.99", "price"),
    ("$1,299.00", "price"),
    ("1,299.00 EUR", "price"),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256"),
    ("2024-01-15", "date"),
    ("15/01/2024", "date"),
    ("01:30:00", "duration"),
    ("PT1H30M", "duration"),
    ("1500ms", "duration"),
    ("12:30", "time"),
    ("std::vector", "text"),
    ("user@localhost", "text"),  # no domain with a dot: not an address anyone mails
    ("0.0.0.0", "bind"),
    ("::1", "host"),
    ("#ff0000", "color"),
    ("2024", "year"),
    ("+1", "delta"),
    ("42", "count"),
]


@pytest.mark.parametrize(("value", "kind", "raw", "mask"), FOUND)
def test_personal_data_is_found_inside_any_string(value, kind, raw, mask):
    matches = pii.find(value, "field")
    assert [(m.kind, m.raw) for m in matches] == [(kind, raw)]
    if mask is not None:
        assert matches[0].mask == mask
    shown = pii.mask_text(value, "field")
    assert raw not in shown and matches[0].mask in shown


@pytest.mark.parametrize(("value", "key"), NOT_FOUND)
def test_values_that_only_look_alike_are_not_taken_for_personal_data(value, key):
    assert pii.find(value, key) == []


@pytest.mark.parametrize(("value", "kind", "raw", "mask"), FOUND)
def test_the_scan_screen_lets_every_kind_through(value, kind, raw, mask):
    # scan() looks at an event's strings with find() only when the screen lets one through.
    assert pii.screened(value)
    findings = pii.scan({"field": value}, "/properties", {})
    assert [(f.path, f.matches[0].kind) for f in findings] == [("/properties/field", kind)]


def test_the_screen_clears_the_common_clean_values():
    clean = ["ORD-2024-000123", "2024-01-15T10:30:00Z", "10.0.19045.2965", "SPRING24", "19.99"]
    assert not any(pii.screened(value) for value in clean)


def test_an_address_under_a_name_that_is_not_a_version_is_one():
    assert [m.kind for m in pii.find("1.2.3.4", "client")] == ["ip"]


def test_several_kinds_in_one_string_are_each_masked():
    text = "jo@x.io from 10.1.2.3 paid with 4242424242424242"
    shown = pii.mask_text(text)
    assert shown == "j•••@x•••.io from 10.•.•.• paid with •••• 4242"


def test_luhn_and_mod_97():
    assert pii.luhn_ok("4242424242424242") and not pii.luhn_ok("4242424242424241")
    assert pii.iban_ok("DE89370400440532013000") and not pii.iban_ok("DE89370400440532013001")
    assert not pii.iban_ok("DE8937040044053201300")  # one short of Germany's 22


# ---- the plan's "pii": true --------------------------------------------------------------

PLAN = {
    "events": {
        "signup": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "pii": True},
                "note": {"type": "string"},
                "contact": {
                    "type": "object",
                    "properties": {"phone": {"type": "string", "pii": True}, "memo": {}},
                },
                "guests": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"email": {"$ref": "#/definitions/allowed"}},
                    },
                },
                "devices": {"type": "array", "items": {"type": "string", "pii": True}},
                "everything": {"type": "object", "pii": True},
            },
            "definitions": {"allowed": {"type": "string", "pii": True}},
        }
    }
}
EMAIL, PHONE = "ann@example.com", "+14155552671"


def judged(properties, policy="warn", name="signup", plan=PLAN):
    compiled = compile_plan(plan, version=3)
    verdict = compiled.validate(name, properties)
    allowed = compiled.pii_allowed(name)
    return pii.judged(verdict, properties, "/properties", allowed, policy, 3)


def test_allowed_paths_nested_in_objects_arrays_and_refs_are_not_findings():
    properties = {
        "email": EMAIL,
        "contact": {"phone": PHONE, "memo": EMAIL},
        "guests": [{"email": EMAIL}, {"email": EMAIL, "name": PHONE}],
        "devices": ["10.0.0.1", "10.0.0.2"],
        "everything": {"deep": [{"x": EMAIL}]},
        "note": "plain",
    }
    verdict = judged(properties)
    assert [v["path"] for v in verdict.violations] == [
        "/properties/contact/memo",
        "/properties/guests/1/name",
    ]
    assert verdict.status == VALID


def test_a_finding_is_a_warning_violation_in_the_contract_format():
    verdict = judged({"note": f"write to {EMAIL}"})
    assert verdict.status == VALID
    assert verdict.violations == [
        {
            "path": "/properties/note",
            "rule": "pii",
            "expected": "no personal data",
            "actual": "write to a•••@e•••.com",
            "message": "note looks like an e-mail address (write to a•••@e•••.com); mark the "
            'property "pii": true in the plan if it may hold personal data',
            "plan_version": 3,
            "severity": "warning",
            "kind": "email",
        }
    ]


def test_fail_makes_a_valid_event_invalid_and_off_looks_at_nothing():
    failed = judged({"note": EMAIL}, "fail")
    assert failed.status == INVALID and failed.violations[0]["severity"] == "error"
    assert judged({"note": EMAIL}, "off").violations == []
    unplanned = judged({"email": EMAIL}, "fail", name="nowhere")
    assert unplanned.status == UNPLANNED  # flagged already; the finding is listed beside
    assert [v["rule"] for v in unplanned.violations] == ["unplanned", "pii"]


def test_other_violations_quoting_a_found_value_are_masked():
    plan = {
        "events": {"e": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "additional_properties": "flag",
    }
    verdict = judged({"n": EMAIL, "extra": PHONE}, name="e", plan=plan)
    text = repr(verdict.violations)
    assert EMAIL not in text and PHONE not in text
    assert {v["rule"] for v in verdict.violations} == {"type", "additionalProperties", "pii"}


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError):
        pii.judged(Verdict(VALID), {"a": EMAIL}, "/properties", {}, "maybe", 1)


def test_a_card_sent_as_a_number_is_found_and_masked_when_shown():
    verdict = judged({"note": 4242424242424242})
    assert verdict.violations[0]["actual"] == "•••• 4242"
    payload = {"eventName": "signup", "note": 4242424242424242}
    shown = pii.masked_payload(payload, verdict.violations)
    assert shown["note"] == "•••• 4242"
    negative = judged({"note": -378282246310005})  # the "-" is no digit of the mask
    # The type violation (note is a string) quotes the number masked too.
    assert [v["actual"] for v in negative.violations] == ["-•••• 0005", "-•••• 0005"]


def test_masked_payload_masks_flagged_values_only_native_and_sdk():
    violations = judged({"note": EMAIL, "email": EMAIL}).violations
    native = {"eventName": "signup", "note": EMAIL, "email": EMAIL}
    sdk = {"type": "track", "event": "signup", "properties": {"note": EMAIL, "email": EMAIL}}
    assert pii.masked_payload(native, violations) == {**native, "note": "a•••@e•••.com"}
    assert pii.masked_payload(sdk, violations)["properties"] == {
        "note": "a•••@e•••.com",
        "email": EMAIL,  # allowed by the plan: shown
    }
    assert native["note"] == EMAIL  # the stored payload is not changed


def test_the_scan_is_bounded():
    many = {f"p{i}": f"a{i}@example.com" for i in range(500)}
    violations = judged(many).violations
    # 20 listed, one counting the rest of the values read (the budget's 200 strings).
    assert len(violations) == pii.MAX_FINDINGS + 1
    assert violations[-1]["kind"] == pii.MORE and violations[-1]["actual"] == pii.MAX_STRINGS - 20
    long = "x" * (pii.MAX_CHARS + 10) + EMAIL
    assert judged({"note": long}).violations == []  # past the characters read
    # Numbers long enough to be cards count against the same budget as strings.
    cards = judged({"note": "x", "cards": [4242424242424242] * 1000}).violations
    more = [v for v in cards if v["rule"] == "pii" and v["kind"] == pii.MORE]
    assert more and more[0]["actual"] == pii.MAX_STRINGS - pii.MAX_FINDINGS


def test_past_the_listed_findings_every_value_found_is_still_masked():
    # 25 invitees in an array, and 30 undeclared properties under a plan that flags them (their
    # additionalProperties violations quote the values).
    invitees = [f"guest{i:02}@leak.example.com" for i in range(25)]
    strict = {**PLAN, "additional_properties": "flag"}
    strict["events"] = {"signup": {**PLAN["events"]["signup"], "additionalProperties": False}}
    extra = {f"p{i:02}": f"person{i:02}@leak.example.com" for i in range(30)}
    for properties, plan in (({"note": "x", "invitees": invitees}, PLAN), (extra, strict)):
        violations = judged(properties, plan=plan).violations
        shown = pii.masked_payload({"eventName": "signup", **properties}, violations)
        for raw in [*invitees, *extra.values()]:
            assert raw not in json.dumps(violations), raw
            assert raw not in json.dumps(shown), raw


# ---- Hypothesis ---------------------------------------------------------------------------

pieces = st.sampled_from([raw for _, _, raw, _ in FOUND] + ["ORD-2024-000123", "1.2.3", " "])
texts = st.lists(st.one_of(st.text(max_size=30), pieces), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.one_of(st.none(), st.text(max_size=12)))
def test_masking_never_returns_a_raw_match(text, key):
    matches = pii.find(text, key)
    shown = pii.mask_text(text, key)
    again = [n.raw for n in pii.find(shown, key)]
    for m in matches:
        assert text[m.start : m.end] == m.raw and m.raw not in m.mask
        # Each found occurrence is gone (the same characters may stand elsewhere unfound).
        found_here = sum(n.raw == m.raw for n in matches)
        assert shown.count(m.raw) <= text.count(m.raw) - found_here
        assert again.count(m.raw) <= shown.count(m.raw)  # the mask is not found as the raw


# Characters the detectors look at, so random text comes close to personal data often.
near = st.text(alphabet="0123456789 -./():+@abzAZDEGB", max_size=40)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(near, texts))
def test_the_screen_never_hides_what_find_finds(text):
    if pii.find(text, "field"):
        assert pii.screened(text[: pii.MAX_CHARS])


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_properties_are_scanned_without_crashing(properties):
    verdict = pii.judged(Verdict(VALID), properties, "/properties", {}, "warn", 1)
    for v in verdict.violations:
        assert v["rule"] == "pii" and v["kind"] in pii.KINDS
    shown = pii.masked_payload({"eventName": "e", "p": properties}, verdict.violations)
    assert isinstance(shown, dict)


def test_a_run_expectation_quoting_a_value_masks_it():
    expectations = parse_expectations(
        {"expect": [{"event": "E", "properties": {"code": {"type": "string", "pattern": "^x$"}}}]}
    )
    events = [RunEvent(1, "E", "valid", {"code": EMAIL}, datetime.now(UTC))]
    results = check(expectations, events, {("E", "valid"): 1}, 0, Budget(100))["results"]
    [result] = [r for r in results if r["kind"] == "properties"]
    assert not result["met"] and "a•••@e•••.com" in result["message"]
    assert EMAIL not in result["message"]
