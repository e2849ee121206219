"""Is a string a host[:port] as a client may dial it (a `Host` header, a configured host)?"""

from __future__ import annotations

import ipaddress
import re

# RFC 3986 host: a reg-name or IPv4 address (both of unreserved characters here: reg-name's
# sub-delims and %-escapes name no host an SDK can dial, and a comma is how a server joins two
# Host headers), or an IPv6 address in brackets; then an optional port.
_HOST_PORT = re.compile(
    r"(?P<host>[A-Za-z0-9._~-]+|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?"
)


def is_host_and_port(value: str) -> bool:
    """True for `name`, `1.2.3.4`, `[::1]`, each with an optional `:port` of 1 to 65535."""
    match = _HOST_PORT.fullmatch(value)
    if match is None:
        return False
    if match["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            return False
    return match["port"] is None or 1 <= int(match["port"]) <= 65535
