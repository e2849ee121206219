"""Set-up snippets of Segment's SDKs pointed at this service, for the app page.

The option names are the SDKs' own: analytics-swift `Configuration.apiHost/cdnHost` and
analytics-kotlin `Configuration.apiHost/cdnHost` (host and path, no scheme: they prepend
https:// and add `/b` and `/projects/<key>/settings`); @segment/analytics-react-native 2.24.1
`createClient({proxy, cdnProxy, useSegmentEndpoints})` (src/types.ts, src/analytics.ts);
@segment/analytics-next 1.84.3 `cdnURL` and the "Segment.io" integration's `apiHost`/`protocol`
(dist/types/browser/settings.d.ts, plugins/segmentio); @segment/analytics-node 3.1.0 `host` and
`path` (dist/types/app/settings.d.ts); segment-analytics-python's `analytics.host`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

ANDROID_EMULATOR_HOST = "10.0.2.2"  # the Android emulator's name for its host's loopback


@dataclass(frozen=True)
class Snippet:
    """One SDK's install line and set-up code."""

    key: str
    title: str
    install: str
    code: str


def sdk_snippets(write_key: str, http_url: str, https_url: str | None) -> list[Snippet]:
    """Snippets for each SDK: mobile and browser over `https_url` (mobile SDKs speak nothing
    else), servers over `http_url`. Without an HTTPS URL the mobile ones use `http_url`'s host
    and port, which they will reach only through something that adds TLS."""
    secure = https_url or http_url
    host = urlsplit(secure).netloc  # host:port, as the mobile SDKs' apiHost wants it
    android = _android_host(secure)
    scheme = urlsplit(secure).scheme
    return [
        Snippet(
            "swift",
            "Swift (iOS)",
            'Swift Package Manager: .package(url: "https://github.com/segmentio/analytics-swift",'
            ' from: "1.10.0")',
            f"""import Segment

let configuration = Configuration(writeKey: "{write_key}")
    .apiHost("{host}/v1")  // batches go to https://{host}/v1/b
    .cdnHost("{host}/v1")  // settings: https://{host}/v1/projects/<key>/settings
let analytics = Analytics(configuration: configuration)
analytics.track(name: "user_login", properties: ["userId": 123])""",
        ),
        Snippet(
            "kotlin",
            "Kotlin (Android)",
            'Gradle: implementation("com.segment.analytics.kotlin:android:1.+")',
            f"""import com.segment.analytics.kotlin.android.Analytics
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.put

{_android_comment(host, android)}val analytics = Analytics("{write_key}", applicationContext) {{
    apiHost = "{android}/v1"
    cdnHost = "{android}/v1"
}}
analytics.track("user_login", buildJsonObject {{ put("userId", 123) }})""",
        ),
        Snippet(
            "react-native",
            "React Native",
            "npm install @segment/analytics-react-native @segment/sovran-react-native "
            "@react-native-async-storage/async-storage",
            f"""{_rn_base(scheme, host, android)}
const segmentClient = createClient({{
  writeKey: '{write_key}',
  proxy: `${{base}}/v1`,     // batches to .../v1/b
  cdnProxy: `${{base}}/v1`,  // settings from .../v1/projects/<key>/settings
  useSegmentEndpoints: true,{_rn_insecure(scheme)}
}});
segmentClient.track('user_login', {{ userId: 123 }});""",
        ),
        Snippet(
            "browser",
            "JavaScript (browser)",
            "npm install @segment/analytics-next",
            f"""import {{ AnalyticsBrowser }} from '@segment/analytics-next';

export const analytics = AnalyticsBrowser.load(
  {{ writeKey: '{write_key}', cdnURL: '{secure}' }},
  {{ integrations: {{ 'Segment.io': {{ apiHost: '{host}/v1', protocol: '{scheme}' }} }} }},
);
analytics.track('user_login', {{ userId: 123 }});""",
        ),
        Snippet(
            "node",
            "JavaScript (Node)",
            "npm install @segment/analytics-node",
            f"""import {{ Analytics }} from '@segment/analytics-node';

const analytics = new Analytics({{
  writeKey: '{write_key}',
  host: '{http_url}',
  path: '/v1/batch',
}});
analytics.track({{ userId: 'user-1', event: 'user_login', properties: {{ userId: 123 }} }});
await analytics.closeAndFlush();""",
        ),
        Snippet(
            "python",
            "Python",
            "pip install segment-analytics-python",
            f"""import segment.analytics as analytics

analytics.write_key = "{write_key}"
analytics.host = "{http_url}"
analytics.track("user-1", "user_login", {{"userId": 123}})
analytics.flush()""",
        ),
    ]


def _android_host(url: str) -> str:
    """host:port as an Android emulator reaches it: loopback is the emulator itself there."""
    parts = urlsplit(url)
    if not _is_loopback(parts.hostname):
        return parts.netloc
    return f"{ANDROID_EMULATOR_HOST}:{parts.port}" if parts.port else ANDROID_EMULATOR_HOST


def _android_comment(host: str, android: str) -> str:
    """A line on why the Android host differs from the others, if it does."""
    if host == android:
        return ""
    return f"// {android}: this machine as an emulator sees it (a phone: its LAN address)\n"


def _rn_base(scheme: str, host: str, android: str) -> str:
    """React Native's imports and base URL: the Android emulator's name for loopback there."""
    imports = "import { createClient } from '@segment/analytics-react-native';\n"
    if host == android:
        return f"{imports}\nconst base = '{scheme}://{host}';"
    return (
        f"import {{ Platform }} from 'react-native';\n{imports}\n"
        f"const base = Platform.OS === 'android' ? '{scheme}://{android}' : '{scheme}://{host}';"
    )


def _rn_insecure(scheme: str) -> str:
    # The SDK rejects http:// proxies unless told (src/util.ts getURL).
    return "\n  allowInsecureProxy: true,  // http:// only" if scheme == "http" else ""


def _is_loopback(hostname: str | None) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname or "").is_loopback
    except ValueError:
        return False
