"""Separate hosts on one machine: a Linux network namespace per host, on one private bridge.

`make scale` (stack/scale.py) runs each part of the full profile on a host of its own. A host is
a network namespace with one link (a veth pair) to a bridge; the bridge sits in a namespace of
its own too, so nothing is added to the machine's own network and no packet leaves the box: the
hosts reach each other on a private /24 and nothing else. Processes are started on a host by
entering its namespace for the moment of the fork (`Network.inside`), with a host name of their
own, so the product's code and the servers run there unchanged.

Every namespace is named PREFIX + the PID of the command that made it, so it never touches
anything else, and `Network.remove` deletes them all (processes left inside are killed by PID
first); `stale()` finds those of a command that died without removing its own. Needs root.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PREFIX = "lvdscale"
NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUTS = 0x04000000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Host:
    """One host: its role (`api1`), namespace, host name and address on the bridge."""

    role: str
    netns: str
    address: str

    @property
    def hostname(self) -> str:
        return self.netns


def ip(*args: str) -> str:
    """Run `ip ARGS`; its output, or CalledProcessError with its message."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode:
        raise subprocess.CalledProcessError(
            result.returncode, ["ip", *args], result.stdout, result.stderr
        )
    return result.stdout


def _setns(fd: int, kind: int) -> None:
    if _libc.setns(fd, kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def _unshare(kind: int) -> None:
    if _libc.unshare(kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare: {os.strerror(errno)}")


def permitted() -> str:
    """Why namespaces cannot be made here ('' when they can): root, `ip`, and a trial one."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"{PREFIX}{os.getpid()}-probe"
    try:
        ip("netns", "add", name)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"`ip netns add` is not permitted here: {getattr(exc, 'stderr', '') or exc}"
    ip("netns", "del", name)
    return ""


def stale() -> list[str]:
    """Namespaces of this kind whose command is gone (it was killed before it removed them)."""
    names = sorted(p.name for p in NETNS_DIR.glob(f"{PREFIX}*")) if NETNS_DIR.exists() else []
    return [name for name in names if not _alive(_owner(name))]


def _owner(name: str) -> int:
    digits = name[len(PREFIX) :].split("-", 1)[0]
    return int(digits) if digits.isdigit() else 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def netns_pids(netns: str) -> list[int]:
    """PIDs of the processes in a namespace."""
    return [int(pid) for pid in ip("netns", "pids", netns).split()]


def delete(netns: str) -> None:
    """Kill (by PID) what still runs in a namespace, then delete it."""
    for _ in range(50):  # a process may fork while we kill: look again until none is left
        pids = netns_pids(netns)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    ip("netns", "del", netns)


class Network:
    """Hosts of the given roles (role → last byte of its address) on `subnet`.0/24."""

    def __init__(self, roles: dict[str, int], subnet: str = "10.18.0") -> None:
        self.tag = f"{PREFIX}{os.getpid()}"
        self.subnet = subnet
        self.hosts = {
            role: Host(role, f"{self.tag}-{role}", f"{subnet}.{last}")
            for role, last in roles.items()
        }
        self.switch = f"{self.tag}-switch"
        self._made: list[str] = []  # namespaces in the order they were made
        self._origin: tuple[int, int] | None = None  # this thread's own namespaces

    @property
    def cidr(self) -> str:
        return f"{self.subnet}.0/24"

    def address(self, role: str) -> str:
        return self.hosts[role].address

    def create(self) -> None:
        """Make the bridge and every host, each with loopback and its address up."""
        self._add(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for number, host in enumerate(self.hosts.values()):
            self._add(host.netns)
            port = f"port{number}"  # the bridge's end; the host's end is eth0 in its namespace
            ip(
                "-n",
                self.switch,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.netns,
            )
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            ip("-n", host.netns, "link", "set", "eth0", "up")

    def _add(self, netns: str) -> None:
        ip("netns", "add", netns)
        self._made.append(netns)
        ip("-n", netns, "link", "set", "lo", "up")

    def remove(self) -> None:
        """Leave our namespaces, kill what still runs in them and delete them, the last made
        first; every one is tried even if another fails."""
        self._return_home()
        errors = []
        for netns in reversed(self._made):
            try:
                delete(netns)
            except (OSError, subprocess.CalledProcessError) as exc:
                errors.append(f"{netns}: {getattr(exc, 'stderr', '') or exc}")
        self._made.clear()
        if errors:
            raise RuntimeError("could not remove " + "; ".join(errors))

    def made(self) -> list[str]:
        """The namespaces made so far."""
        return list(self._made)

    def pids(self, role: str) -> list[int]:
        """PIDs of the processes running on a host."""
        return netns_pids(self.hosts[role].netns)

    def enter(self, role: str) -> None:
        """Move the calling thread to a host's network for good (a thread started afterwards
        by this one is there too); `remove` brings the thread that made the network back."""
        if self._origin is None:
            self._origin = (_open_ns("net"), _open_ns("uts"))
        _join(self.hosts[role].netns)

    def _return_home(self) -> None:
        if self._origin is not None:
            _setns(self._origin[0], _CLONE_NEWNET)
            _setns(self._origin[1], _CLONE_NEWUTS)
            for fd in self._origin:
                os.close(fd)
            self._origin = None

    @contextmanager
    def inside(self, role: str) -> Iterator[Host]:
        """Run the block in a host's network and under its host name: processes started in it
        run on that host. Only the calling thread moves, and it moves back afterwards."""
        host = self.hosts[role]
        net, uts = _open_ns("net"), _open_ns("uts")
        try:
            _join(host.netns)
            _unshare(_CLONE_NEWUTS)  # a host name of its own, for this thread and its children
            socket.sethostname(host.hostname)
            yield host
        finally:
            _setns(net, _CLONE_NEWNET)
            _setns(uts, _CLONE_NEWUTS)
            os.close(net)
            os.close(uts)


def _open_ns(kind: str) -> int:
    return os.open(f"/proc/thread-self/ns/{kind}", os.O_RDONLY)


def _join(netns: str) -> None:
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        _setns(fd, _CLONE_NEWNET)
    finally:
        os.close(fd)
