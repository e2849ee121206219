"""The micro profile's HTTPS port: the same app as its HTTP port, for devices and mobile SDKs,
with a certificate from the local CA (app/local_tls.py) and a start-up note on trusting it."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app.local_tls import WILDCARD_HOSTS, LocalTls, ensure_certificates, names_to_cover
from app.micro_timeouts import timed_request_handler

DEVICES_DOC = Path(__file__).resolve().parent.parent / "docs" / "devices.md"
ANDROID_EMULATOR_HOST = "10.0.2.2"  # the emulator's alias for its host's loopback


def _is_lan_ipv4(name: str) -> bool:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a host name
    return address.version == 4 and not address.is_loopback and name != ANDROID_EMULATOR_HOST


class HttpsServer:
    """The app served over HTTPS in a thread of this process."""

    def __init__(self, flask_app: Flask) -> None:
        config = flask_app.config
        self.host = config["HOST"]
        self.tls: LocalTls = ensure_certificates(
            Path(config["DATA_DIR"]).resolve() / "tls", names_to_cover(self.host)
        )
        self.server: BaseWSGIServer = make_server(
            self.host,
            config["HTTPS_PORT"],
            flask_app,
            threaded=True,
            ssl_context=self.tls.server_context(),
            request_handler=timed_request_handler(config["MICRO_SOCKET_TIMEOUT_SECONDS"]),
        )
        self.port = self.server.server_port
        if not config["PUBLIC_HTTPS_URL"]:  # for the app page's SDK snippets
            config["PUBLIC_HTTPS_URL"] = self.url_for(self._local_host())
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="https-server", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=10)
        self.server.server_close()

    def url_for(self, host: str) -> str:
        """This port's base URL on `host` (an IPv6 address in brackets)."""
        return f"https://{f'[{host}]' if ':' in host else host}:{self.port}"

    def _local_host(self) -> str:
        return "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host

    def banner(self) -> str:
        """The start-up lines: the CA, how to trust it on a device, and which URL to use."""
        ca, url = _shown(self.tls.ca_file), self.url_for(self._local_host())
        if self.host not in WILDCARD_HOSTS:
            phone = f"start with HOST=0.0.0.0, then https://<LAN address>:{self.port}"
        else:
            lan = [n for n in self.tls.names if _is_lan_ipv4(n)]
            phone = f"use {self.url_for(lan[0])}" if lan else "no LAN address found"
        return (
            f"  HTTPS for devices on {url}   CA to trust: {ca}\n"
            f"    iOS simulator:    xcrun simctl keychain booted add-root-cert {ca}\n"
            f"                      then use {url}\n"
            f"    Android emulator: adb push {ca} /sdcard/Download/lvd-ca.pem\n"
            f"                      then install it as a CA certificate (Settings), trust user\n"
            f"                      CAs in the app's debug network_security_config.xml,\n"
            f"                      and use {self.url_for(ANDROID_EMULATOR_HOST)}\n"
            f"    phone on the LAN: {phone}\n"
            f"    step by step: {_shown(DEVICES_DOC)}\n"
        )


def _shown(path: Path) -> str:
    """`path` relative to the working folder when under it (shorter to read and copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
