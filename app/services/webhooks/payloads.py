"""The bodies webhooks receive, built from the same figures as the alert and digest mails (the
mails' template context): the generic JSON document, and a Slack incoming-webhook message
(Block Kit) within Slack's limits, with every user-supplied text escaped for mrkdwn."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

ALERT, DIGEST, TEST = "alert", "digest", "test"
MESSAGES = (ALERT, DIGEST, TEST)
JSON, SLACK = "json", "slack"
KINDS = (JSON, SLACK)
USER_AGENT = "LiveValidationDashboard-Webhooks/1"
# Slack's limits (https://api.slack.com/reference/block-kit/blocks): a section's text.
SLACK_SECTION_MAX = 3000
DIGEST_EVENTS = 20
TEST_TEXT = "A test message from the Live Validation Dashboard: this webhook works."


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _minute(iso: str) -> str:
    """An ISO time of the body as the mail shows it: 2026-12-05 09:14."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")


def _share(value: float) -> float:
    return round(value, 4)


def figures(message: str, context: dict[str, Any]) -> dict[str, Any]:
    """The `alert` / `digest` / `test` object of the JSON body, from a mail's context."""
    if message == TEST:
        return {"message": TEST_TEXT, "link": context["link"]}
    app = context["app"]
    common = {
        "counts": dict(context["counts"]),
        "total": context["total"],
        "failing_share": _share(context["share"]),
        "threshold": app.alert_threshold,
        "top_violations": [dict(v) for v in context["violations"]],
        "pii_findings": int(context["pii_findings"]),
    }
    if message == ALERT:
        window = {
            "start": _iso(context["start"]),
            "end": _iso(context["end"]),
            "minutes": app.alert_window_minutes,
        }
        extra = {"cooldown_minutes": app.alert_cooldown_minutes}
        return {"window": window, **common, **extra, "link": context["link"]}
    if message == DIGEST:
        events = [
            {
                "event_name": e["event_name"],
                "total": e["total"],
                "failing_share": _share(e["share"]),
            }
            for e in context["health"][:DIGEST_EVENTS]
        ]
        return {
            "day": context["day"].isoformat(),
            **common,
            "events": events,
            "link": context["link"],
        }
    raise ValueError(f"no webhook message {message!r}")


def generic(
    message: str, delivery_id: int, sent_at: datetime, app: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """The json kind's document."""
    return {
        "type": message,
        "delivery_id": delivery_id,
        "sent_at": _iso(sent_at),
        "app": app,
        message: data,
    }


def mrkdwn_escape(text: str) -> str:
    """User text made inert in Slack's mrkdwn: &, < and > as entities (Slack's documented
    escaping: https://api.slack.com/reference/surfaces/formatting#escaping), so `<!channel>`
    or `<http://x|y>` shows as typed instead of pinging or linking."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """User text in an inline code span (a backtick in it would end the span early)."""
    return "`" + mrkdwn_escape(text.replace("`", "'")) + "`"


def _fit(lines: list[str], limit: int = SLACK_SECTION_MAX) -> str:
    """Lines joined within `limit` characters, the overflow replaced by a count."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        more = f"… and {len(lines) - i} more"
        if used + len(line) + 1 > limit - len(more) - 1:
            out.append(more)
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)[:limit]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text.split("\n"))}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": False}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit([text])}]}


def _violation_lines(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['count']:,} × {_code(v['event_name'])} {mrkdwn_escape(v['rule'])} {_code(v['path'])}"
        for v in violations
    ] or ["(no violations recorded)"]


def _counts_line(data: dict[str, Any]) -> str:
    counts = data["counts"]
    line = " · ".join(
        f"{status}: {counts.get(status, 0):,}" for status in ("invalid", "unplanned", "valid")
    )
    return line + f"\nPersonal data findings: {data['pii_findings']:,}"


def slack(message: str, app: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: a fallback `text` and header, sections, context."""
    name = mrkdwn_escape(" ".join(app["name"].split()))
    link = data["link"]
    if message == TEST:
        text = f"Test message for {name}: this webhook works."
        blocks = [
            _header("Live Validation test message"),
            _section(
                f"This Slack webhook of *{name}* works: its alerts and daily digests arrive here."
            ),
            _context(f"<{link}|Open the app>"),
        ]
    elif message == ALERT:
        share, window = data["failing_share"], data["window"]
        text = f"{name}: {share:.0%} of events failing in the last {window['minutes']} minutes"
        threshold = "" if data["threshold"] is None else f" (threshold {data['threshold']:.0%})"
        blocks = [
            _header("Validation alert"),
            _section(
                f"*{name}*: *{share:.1%}* of {data['total']:,} events failed the tracking plan "
                f"between {_minute(window['start'])} and {_minute(window['end'])[-5:]} UTC"
                f"{threshold}.\n" + _counts_line(data)
            ),
            _section("*Top violations*\n" + "\n".join(_violation_lines(data["top_violations"]))),
            _context(
                f"<{link}|See the failing events live> · no further alert for "
                f"{data['cooldown_minutes']} minutes"
            ),
        ]
    elif message == DIGEST:
        share = data["failing_share"]
        text = f"{name} on {data['day']}: {data['total']:,} events, {share:.1%} failing"
        blocks = [
            _header(f"Daily digest {data['day']}"),
            _section(
                f"*{name}* on {data['day']}: {data['total']:,} events, *{share:.1%}* failing.\n"
                + _counts_line(data)
            ),
            _section("*Top violations*\n" + "\n".join(_violation_lines(data["top_violations"]))),
            _context(f"<{link}|Open the overview>"),
        ]
    else:
        raise ValueError(f"no webhook message {message!r}")
    return {"text": text, "blocks": blocks}


def body(
    kind: str,
    message: str,
    delivery_id: int,
    sent_at: datetime,
    app: dict[str, Any],
    data: dict[str, Any],
) -> str:
    """The JSON text a webhook of `kind` is sent (compact, UTF-8 as is)."""
    document = (
        generic(message, delivery_id, sent_at, app, data)
        if kind == JSON
        else slack(message, app, data)
    )
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
