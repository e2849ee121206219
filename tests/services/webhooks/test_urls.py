"""Where webhooks may point, without a network: public or not per address, masking of Slack
URLs, the Host header, Retry-After, and the private-address setting's defaults per profile."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.config import build_config
from app.services.webhooks import transport, urls


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.215.14", True),
        ("ff02::1", False),
    ],
)
def test_only_public_addresses_are_public(address, public):
    assert urls.is_public(address) is public


def test_slack_urls_are_masked_past_their_first_segment():
    assert (
        urls.masked("https://hooks.slack.com/services/T0/B0/secretpart")
        == "https://hooks.slack.com/services/•••"
    )
    assert urls.masked("https://example.com") == "https://example.com/•••"
    assert (
        urls.masked("http://127.0.0.1:5050/services/T/B/x") == "http://127.0.0.1:5050/services/•••"
    )


@pytest.mark.parametrize(
    ("url", "host_header", "path"),
    [
        ("https://example.com/hook", "example.com", "/hook"),
        ("http://example.com:8080", "example.com:8080", "/"),
        ("https://[2001:db8::1]:8443/a?b=c", "[2001:db8::1]:8443", "/a?b=c"),
        ("http://example.com:80/x", "example.com", "/x"),
    ],
)
def test_the_target_keeps_host_port_and_path(url, host_header, path):
    target = urls.parse(url)
    assert (target.host_header, target.path) == (host_header, path)


def test_retry_after_reads_seconds_and_dates_and_is_capped():
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert transport.retry_after_seconds("120", now) == 120
    assert transport.retry_after_seconds("Sat, 05 Dec 2026 09:01:30 GMT", now) == 90
    assert transport.retry_after_seconds("999999", now) == transport.MAX_RETRY_AFTER_SECONDS
    assert transport.retry_after_seconds("soon", now) is None
    assert transport.retry_after_seconds(None, now) is None


def test_private_addresses_are_allowed_in_micro_and_denied_in_full(tmp_path):
    base = {"LVD_DATA_DIR": str(tmp_path), "SECRET_KEY": "s"}
    micro = build_config({**base, "LVD_PROFILE": "micro"})
    full = build_config({**base, "LVD_PROFILE": "full", "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert (micro["WEBHOOK_PRIVATE_ADDRESSES"], full["WEBHOOK_PRIVATE_ADDRESSES"]) == (
        "allow",
        "deny",
    )
    opened = build_config(
        {
            **base,
            "LVD_PROFILE": "full",
            "REDIS_URL": "redis://x",
            "WEBHOOK_PRIVATE_ADDRESSES": "allow",
        }
    )
    assert opened["WEBHOOK_PRIVATE_ADDRESSES"] == "allow"
    with pytest.raises(ValueError, match="allow or deny"):
        build_config({**base, "WEBHOOK_PRIVATE_ADDRESSES": "maybe"})
