"""Webhook bodies from the mails' figures: the generic JSON document, and Slack messages that
match a JSON Schema written from Slack's documentation (slack_message.schema.json, pages cited
there), with user text that cannot mention a channel or make a link."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import pytest

from app.models import TrackedApp
from app.services.webhooks import payloads
from app.services.webhooks.payloads import ALERT, DIGEST, TEST

SCHEMA = json.loads((Path(__file__).parent / "slack_message.schema.json").read_text())
START = datetime(2026, 12, 5, 9, 4, tzinfo=UTC)
END = datetime(2026, 12, 5, 9, 14, 1, tzinfo=UTC)
HOSTILE_APP = "Shop <!channel> & <http://evil.example|click here>"
HOSTILE_EVENT = "<!here> `pay` <@U024BE7LH>"
HOSTILE_PATH = "/properties/<http://x|y>&more"
APP = {"id": 3, "name": "shop", "url": "https://lvd.example/apps/3"}
LINK = "https://lvd.example/apps/3/live?status=invalid"


def tracked_app(name: str = "shop") -> TrackedApp:
    return TrackedApp(
        id=3,
        name=name,
        alert_threshold=0.2,
        alert_window_minutes=10,
        alert_cooldown_minutes=60,
    )


def violations(n: int = 2, event: str = "purchase", path: str = "/properties/price"):
    return [{"event_name": event, "rule": "type", "path": path, "count": 30 - i} for i in range(n)]


def alert_context(name: str = "shop", **extra) -> dict:
    return {
        "pii_findings": 0,
        "app": tracked_app(name),
        "start": START,
        "end": END,
        "counts": {"valid": 5, "invalid": 28, "unplanned": 4, "duplicate": 0},
        "total": 37,
        "share": 32 / 37,
        "violations": violations(),
        "sampled": 32,
        "sample_limit": 5000,
        "link": LINK,
        **extra,
    }


def digest_context(name: str = "shop", **extra) -> dict:
    return {
        "pii_findings": 0,
        "app": tracked_app(name),
        "day": date(2026, 12, 4),
        "counts": {"valid": 900, "invalid": 90, "unplanned": 10, "duplicate": 3},
        "total": 1003,
        "share": 100 / 1003,
        "violations": violations(3),
        "health": [
            {
                "event_name": "purchase",
                "valid": 1,
                "invalid": 9,
                "unplanned": 0,
                "duplicate": 0,
                "total": 10,
                "share": 0.9,
            }
        ],
        "link": "https://lvd.example/apps/3/overview",
        **extra,
    }


def test_the_alert_document_carries_the_mails_figures():
    data = payloads.figures(ALERT, alert_context())
    document = payloads.generic(ALERT, 41, END, APP, data)
    assert document == {
        "type": "alert",
        "delivery_id": 41,
        "sent_at": "2026-12-05T09:14:01Z",
        "app": APP,
        "alert": {
            "window": {
                "start": "2026-12-05T09:04:00Z",
                "end": "2026-12-05T09:14:01Z",
                "minutes": 10,
            },
            "counts": {"valid": 5, "invalid": 28, "unplanned": 4, "duplicate": 0},
            "total": 37,
            "failing_share": 0.8649,
            "threshold": 0.2,
            "top_violations": violations(),
            "pii_findings": 0,
            "cooldown_minutes": 60,
            "link": LINK,
        },
    }


def test_the_digest_document_carries_the_days_figures():
    data = payloads.figures(DIGEST, digest_context())
    assert data["day"] == "2026-12-04" and data["total"] == 1003
    assert data["failing_share"] == 0.0997 and data["top_violations"] == violations(3)
    assert data["events"] == [{"event_name": "purchase", "total": 10, "failing_share": 0.9}]
    assert data["link"] == "https://lvd.example/apps/3/overview"


@pytest.mark.parametrize(("message", "context"), [(ALERT, alert_context), (DIGEST, digest_context)])
def test_pii_findings_travel_from_the_mails_count(message, context):
    assert payloads.figures(message, context())["pii_findings"] == 0
    with pytest.raises(KeyError):  # a context without the count is a bug, not a zero
        payloads.figures(message, {k: v for k, v in context().items() if k != "pii_findings"})
    data = payloads.figures(message, context(pii_findings=7))
    assert data["pii_findings"] == 7
    slack = payloads.slack(message, APP, data)
    assert "Personal data findings: 7" in json.dumps(slack)


def slack_messages(name: str = "shop", event: str = "purchase", path: str = "/properties/price"):
    app = {**APP, "name": name}
    alert = alert_context(name, violations=violations(3, event, path))
    digest = digest_context(name, violations=violations(3, event, path))
    return {
        ALERT: payloads.slack(ALERT, app, payloads.figures(ALERT, alert)),
        DIGEST: payloads.slack(DIGEST, app, payloads.figures(DIGEST, digest)),
        TEST: payloads.slack(TEST, app, payloads.figures(TEST, {"link": APP["url"]})),
    }


@pytest.mark.parametrize("message", [ALERT, DIGEST, TEST])
def test_slack_messages_match_slacks_documented_format(message):
    document = slack_messages()[message]
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert document["blocks"][0]["type"] == "header"


def test_the_schema_refuses_what_slack_refuses():
    """The schema is no rubber stamp: each documented limit, broken once, fails it."""
    good = slack_messages()[ALERT]
    broken = [
        {**good, "blocks": good["blocks"] * 13},  # 52 blocks
        {**good, "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]},
        {**good, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
        {**good, "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]},
        {
            **good,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}],
        },
        {"blocks": good["blocks"]},  # no fallback text
    ]
    for document in broken:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, SCHEMA)


OUR_LINK = re.compile(r"<https://lvd\.example/[^|<>]*\|[^<>]*>")


def texts(document: dict) -> list[str]:
    """Every string Slack renders as mrkdwn: the fallback, sections' and context's texts."""
    found = [document["text"]]
    for block in document["blocks"]:
        if block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found += [e["text"] for e in block["elements"]]
    return found


@pytest.mark.parametrize("message", [ALERT, DIGEST, TEST])
def test_user_text_cannot_mention_link_or_break_out_in_slack(message):
    document = slack_messages(HOSTILE_APP, HOSTILE_EVENT, HOSTILE_PATH)[message]
    jsonschema.validate(document, SCHEMA)
    rendered = texts(document)
    for text in rendered:
        bare = OUR_LINK.sub("", text)  # the one link we make, to our own pages
        assert "<" not in bare and ">" not in bare, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", bare), text  # a lone & is escaped too
    joined = "\n".join(rendered)
    assert "Shop &lt;!channel&gt; &amp; &lt;http://evil.example|click here&gt;" in joined
    if message != TEST:
        assert "&lt;!here&gt; 'pay' &lt;@U024BE7LH&gt;" in joined
        assert "/properties/&lt;http://x|y&gt;&amp;more" in joined
    # Headers are plain text, which Slack does not parse, and carry no user text at all.
    headers = [b["text"]["text"] for b in document["blocks"] if b["type"] == "header"]
    assert all("Shop" not in h and "<" not in h for h in headers)


def test_a_long_list_stays_within_a_sections_limit():
    many = [
        {"event_name": "e" * 100 + str(i), "rule": "type", "path": "/p" * 50, "count": 1}
        for i in range(200)
    ]
    data = payloads.figures(ALERT, alert_context(violations=many))
    document = payloads.slack(ALERT, APP, data)
    jsonschema.validate(document, SCHEMA)
    top = document["blocks"][2]["text"]["text"]
    assert len(top) <= 3000 and re.search(r"… and \d+ more$", top)


def test_the_body_is_compact_json_of_the_kind():
    data = payloads.figures(TEST, {"link": APP["url"]})
    generic = json.loads(payloads.body("json", TEST, 5, END, APP, data))
    slack = json.loads(payloads.body("slack", TEST, 5, END, APP, data))
    assert generic["type"] == "test" and generic["delivery_id"] == 5
    assert set(slack) == {"text", "blocks"}


def test_the_slack_alert_reads_like_the_mail():
    document = slack_messages()[ALERT]
    assert document["text"] == "shop: 86% of events failing in the last 10 minutes"
    assert document["blocks"][1]["text"]["text"] == (
        "*shop*: *86.5%* of 37 events failed the tracking plan between 2026-12-05 09:04 and "
        "09:14 UTC (threshold 20%).\ninvalid: 28 · unplanned: 4 · valid: 5\n"
        "Personal data findings: 0"
    )
    assert document["blocks"][2]["text"]["text"].split("\n")[:2] == [
        "*Top violations*",
        "30 × `purchase` type `/properties/price`",
    ]
    assert document["blocks"][3]["elements"][0]["text"] == (
        f"<{LINK}|See the failing events live> · no further alert for 60 minutes"
    )
