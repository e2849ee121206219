"""The app page's SDK snippets: each SDK set up with this service's URLs, in the option names
the SDKs read (see app/dashboard/sdk_snippets.py for the sources), and the app's write key."""

from __future__ import annotations

import html
import re

from tests.dashboard.helpers import sign_up_and_verify, submit

HTTPS = "https://127.0.0.1:5443"  # as micro sets PUBLIC_HTTPS_URL when it serves HTTPS


def snippets_on_page(client, app_id: int, base_url: str = "http://localhost") -> dict[str, str]:
    """SDK key → the text of its <details> block on the app page asked for at `base_url`."""
    page = client.get(f"/apps/{app_id}", base_url=base_url).get_data(as_text=True)
    blocks = re.findall(r'<details class="sdk" id="sdk-([a-z-]+)"[^>]*>(.*?)</details>', page, re.S)
    return {key: html.unescape(body) for key, body in blocks}


def new_app(micro_app) -> tuple[object, int, str]:
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "mobile@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    write_key = re.search(r'<code class="key" id="write-key">([0-9a-f]+)</code>', page).group(1)
    return client, app_id, write_key


def expected(key: str, http: str, https: str, android: str) -> dict[str, list[str]]:
    """What each SDK's snippet must say, written out by hand from the SDKs' option names."""
    host = https.split("://")[1]
    return {
        "swift": [
            f'Configuration(writeKey: "{key}")',
            f'.apiHost("{host}/v1")',
            f'.cdnHost("{host}/v1")',
        ],
        "kotlin": [
            f'Analytics("{key}", applicationContext)',
            f'apiHost = "{android}/v1"',
            f'cdnHost = "{android}/v1"',
        ],
        "react-native": [
            f"writeKey: '{key}'",
            f"Platform.OS === 'android' ? 'https://{android}' : '{https}'"
            if android != host
            else f"const base = '{https}';",
            "proxy: `${base}/v1`",
            "cdnProxy: `${base}/v1`",
            "useSegmentEndpoints: true",
        ],
        "browser": [
            f"{{ writeKey: '{key}', cdnURL: '{https}' }}",
            f"'Segment.io': {{ apiHost: '{host}/v1', protocol: 'https' }}",
        ],
        "node": [f"writeKey: '{key}'", f"host: '{http}'", "path: '/v1/batch'"],
        "python": [f'analytics.write_key = "{key}"', f'analytics.host = "{http}"'],
    }


def test_the_app_page_shows_every_sdk_set_up_for_this_service(micro_app):
    micro_app.config["PUBLIC_HTTPS_URL"] = HTTPS
    client, app_id, write_key = new_app(micro_app)
    shown = snippets_on_page(client, app_id)
    # The emulator reaches this machine's loopback as 10.0.2.2.
    wanted = expected(write_key, "http://localhost", HTTPS, "10.0.2.2:5443")
    assert list(shown) == list(wanted)
    for sdk, lines in wanted.items():
        for line in lines:
            assert line in shown[sdk], f"{sdk}: {line!r} missing from\n{shown[sdk]}"
    assert "allowInsecureProxy" not in shown["react-native"]
    assert 'id="no-https"' not in client.get(f"/apps/{app_id}").get_data(as_text=True)


def test_asked_over_https_the_page_uses_the_address_it_was_asked_on(micro_app):
    micro_app.config["PUBLIC_URL"] = "http://lvd.example:5000"
    client, app_id, write_key = new_app(micro_app)
    https = "https://lvd.example:5443"
    session = client.get_cookie(micro_app.config["SESSION_COOKIE_NAME"])
    client.set_cookie(session.key, session.value, domain="lvd.example")  # signed in there too
    shown = snippets_on_page(client, app_id, https)
    # Not loopback: an emulator reaches it by the same name.
    wanted = expected(write_key, "http://lvd.example:5000", https, "lvd.example:5443")
    for sdk, lines in wanted.items():
        for line in lines:
            assert line in shown[sdk], f"{sdk}: {line!r} missing from\n{shown[sdk]}"


def test_without_https_react_native_is_told_to_allow_http(micro_app):
    client, app_id, write_key = new_app(micro_app)
    shown = snippets_on_page(client, app_id)
    assert "cdnURL: 'http://localhost'" in shown["browser"]
    assert "allowInsecureProxy: true" in shown["react-native"]
    assert 'id="no-https"' in client.get(f"/apps/{app_id}").get_data(as_text=True)
