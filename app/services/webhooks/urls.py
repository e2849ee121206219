"""Where a webhook may point: http(s) only, no credentials, at most 2,000 characters, and (with
WEBHOOK_PRIVATE_ADDRESSES=deny) no loopback, private, link-local or otherwise non-public
address, checked on save and again on each send after resolving the name."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.errors import ServiceError

MAX_URL_LENGTH = 2000
ALLOW, DENY = "allow", "deny"
_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A checked URL, split as the POST needs it."""

    scheme: str
    host: str  # without brackets for an IPv6 literal
    port: int
    path: str  # path and query, at least "/"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _PORTS[self.scheme] else f"{host}:{self.port}"


def _invalid(message: str) -> ServiceError:
    return ServiceError("invalid", "invalid_webhook_url", message)


def parse(url: str) -> Target:
    """The URL's parts, or ServiceError(invalid) saying what is wrong with it."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise _invalid(f"A webhook URL has 1 to {MAX_URL_LENGTH:,} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise _invalid("A webhook URL has no spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(f"That is not a URL: {exc}.") from None
    if parts.scheme not in _PORTS:
        raise _invalid("A webhook URL starts with http:// or https://.")
    if not parts.hostname:
        raise _invalid("A webhook URL names a host.")
    if parts.username is not None or parts.password is not None:
        raise _invalid("A webhook URL carries no user name or password.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port or _PORTS[parts.scheme], path)


def is_public(address: str) -> bool:
    """Whether an IP address is a public, routable one (not loopback, private, link-local,
    multicast, reserved or unspecified; IPv4-mapped IPv6 judged as its IPv4 address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(target: Target, private_addresses: str) -> list[str]:
    """The target's addresses (resolved now); ServiceError(invalid) when it does not resolve,
    or when `private_addresses` is deny and any of them is not public."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ServiceError(
            "invalid",
            "unresolved_webhook_host",
            f"The host {target.host} does not resolve ({exc}).",
        ) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if private_addresses != ALLOW:
        private = [a for a in addresses if not is_public(a)]
        if private:
            raise ServiceError(
                "invalid",
                "private_webhook_address",
                f"{target.host} resolves to {private[0]}, a private or local address, which "
                "this service does not post to (WEBHOOK_PRIVATE_ADDRESSES=deny).",
            )
    return addresses


def check(url: str, private_addresses: str) -> Target:
    """The checks of saving a webhook: the URL's form and, when denied, its addresses."""
    target = parse(url)
    if private_addresses != ALLOW:
        resolve(target, private_addresses)
    return target


def masked(url: str) -> str:
    """A URL for display when the URL itself is the secret (Slack): scheme, host, port and the
    path's first segment, the rest hidden."""
    target = parse(url)
    first = target.path.split("?", 1)[0].strip("/").split("/", 1)[0]
    origin = f"{target.scheme}://{target.host_header}"
    return f"{origin}/{first}/•••" if first else f"{origin}/•••"
