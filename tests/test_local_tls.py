"""The micro profile's local CA: fit for devices to trust, kept across starts, and a server
certificate issued again only when the names it must cover change."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import stat

import pytest
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.local_tls import LOCAL_NAMES, ensure_certificates, names_to_cover

NAMES = ("localhost", "127.0.0.1", "::1", "10.0.2.2")


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def verify(tls, name: x509.GeneralName) -> None:
    """Check the server certificate as a strict (RFC 5280 / CA/B Forum) TLS client would."""
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([load(tls.ca_file)]))
        .build_server_verifier(name)
    )
    verifier.verify(load(tls.cert_file), [])


def test_the_certificates_are_what_ios_and_android_accept(tmp_path):
    tls = ensure_certificates(tmp_path / "tls", NAMES)
    ca, server = load(tls.ca_file), load(tls.cert_file)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    # Apple: at most 825 days for a server certificate, serverAuth, names in subjectAltName.
    lifetime = server.not_valid_after_utc - server.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=825)
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert server.public_key().key_size >= 2048
    for name in ("localhost",):
        verify(tls, x509.DNSName(name))
    for address in ("127.0.0.1", "::1", "10.0.2.2"):
        verify(tls, x509.IPAddress(ipaddress.ip_address(address)))
    with pytest.raises(verification.VerificationError):
        verify(tls, x509.DNSName("example.com"))
    for path in (tls.ca_file, tls.cert_file, tls.key_file, tls.ca_file.parent / "ca-key.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(tls.ca_file.parent.stat().st_mode) == 0o700


def test_the_ca_stays_and_the_server_certificate_follows_the_names(tmp_path):
    first = ensure_certificates(tmp_path / "tls", NAMES)
    ca, server = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    again = ensure_certificates(tmp_path / "tls", NAMES)
    assert (again.ca_file.read_bytes(), again.cert_file.read_bytes()) == (ca, server)

    moved = ensure_certificates(tmp_path / "tls", (*NAMES, "192.168.7.20", "laptop.local"))
    assert moved.ca_file.read_bytes() == ca  # devices keep trusting it
    assert moved.cert_file.read_bytes() != server
    verify(moved, x509.IPAddress(ipaddress.ip_address("192.168.7.20")))
    verify(moved, x509.DNSName("laptop.local"))


def test_serving_on_every_address_covers_this_machines_name(tmp_path):
    names = names_to_cover("0.0.0.0")
    assert set(LOCAL_NAMES) <= set(names)
    assert socket.gethostname().lower() in names
    assert names_to_cover("192.168.7.20") == (*LOCAL_NAMES, "192.168.7.20")
