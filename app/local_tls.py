"""A local certificate authority and the server certificate it signs, for HTTPS in micro.

Segment's mobile SDKs only speak https://, so `make run` serves HTTPS too. The CA is made once
and kept in the data folder, so a simulator, emulator or phone trusts it once; the server
certificate is issued again whenever the names it must cover change or it nears its end.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.private_files import private_folder, write_private

log = logging.getLogger(__name__)
# Ten years: long enough that nobody re-trusts it during a project, and within what iOS and
# Android accept for a CA a user installs.
CA_DAYS = 3650
# Apple rejects server certificates valid for more than 825 days (398 for public CAs since
# 2020; we stay under both), whichever CA signed them.
SERVER_DAYS = 397
RENEW_BEFORE = datetime.timedelta(days=30)
# RSA 2048 is what every iOS and Android version takes for both the CA and the server.
KEY_BITS = 2048
# Always covered: this machine by name and loopback, and the Android emulator's alias for its
# host's loopback.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1", "10.0.2.2")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class LocalTls:
    """Where the certificates are, and the names the server certificate covers."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    names: tuple[str, ...]

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context with the server certificate, handshaking lazily."""
        context = _LazyHandshakeContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


class _LazyHandshakeContext(ssl.SSLContext):
    """Handshake in the request's thread, not in the server's accept loop.

    werkzeug wraps its listening socket; by default every accepted connection then handshakes
    inside accept(), so one client that connects and sends nothing would stall every other.
    """

    def wrap_socket(self, sock, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def names_to_cover(host: str) -> tuple[str, ...]:
    """The DNS names and addresses the server certificate needs when serving on `host`."""
    names = list(LOCAL_NAMES)
    if host in WILDCARD_HOSTS:
        names += lan_names()
    else:
        names.append(host)
    return tuple(dict.fromkeys(n.lower() for n in names if n))


def lan_names() -> list[str]:
    """This machine's host name (and its .local mDNS name) and its non-loopback addresses."""
    hostname = socket.gethostname()
    names = [hostname]
    if "." not in hostname:
        names.append(f"{hostname}.local")  # how phones on the LAN find a Mac by name
    addresses = set()
    try:
        for *_, sockaddr in socket.getaddrinfo(hostname, None):
            addresses.add(sockaddr[0])
    except OSError:
        pass  # a host name that does not resolve: the routed address below still counts
    # The address the default route leaves from. connect() on UDP sends nothing: it only picks
    # the route, so this works offline too (then there is no such route and nothing to add).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never a real host
            addresses.add(probe.getsockname()[0])
        except OSError:
            pass
    usable = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback]
    return names + sorted(a.split("%")[0] for a in usable)


def ensure_certificates(folder: Path, names: tuple[str, ...]) -> LocalTls:
    """The CA (made on first call, then kept) and a current server certificate for `names`."""
    private_folder(folder)
    tls = LocalTls(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem", names)
    ca_key_file = folder / "ca-key.pem"
    if tls.ca_file.exists() and ca_key_file.exists():
        ca_cert = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), None)
    else:
        ca_cert, ca_key = _new_ca()
        write_private(ca_key_file, _key_pem(ca_key))
        write_private(tls.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM).decode())
        log.info("made a local certificate authority: %s", tls.ca_file)
    if _server_cert_needed(tls, ca_cert):
        cert, key = _new_server_cert(ca_cert, ca_key, names)
        write_private(tls.key_file, _key_pem(key))
        write_private(tls.cert_file, cert.public_bytes(serialization.Encoding.PEM).decode())
        log.info("issued a server certificate for %s", ", ".join(names))
    return tls


def ca_fingerprint(ca_file: Path) -> str:
    """The CA certificate's SHA-256 fingerprint, as devices show it (AB:CD:...)."""
    cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _server_cert_needed(tls: LocalTls, ca_cert: x509.Certificate) -> bool:
    """True unless the kept server certificate is signed by this CA, covers exactly `names`
    and is not near its end."""
    if not (tls.cert_file.exists() and tls.key_file.exists()):
        return True
    cert = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):  # another CA's (a CA made anew)
        return True
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return True
    return set(_san_names(cert)) != set(tls.names)


def _san_names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return [n.lower() for n in dns] + ips


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _new_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    # The host name in the CA's name tells apart the CAs of several laptops on one phone.
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Live Validation Dashboard (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"LVD local CA {socket.gethostname()}"[:64]),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # clocks of devices drift
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server_cert(
    ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey, names: tuple[str, ...]
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    now = _now()
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        # Apple's rules: names in subjectAltName (the CN is ignored), serverAuth in EKU.
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key
