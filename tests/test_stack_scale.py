"""`make scale` (stack/scale.py on stack/netns.py): its hosts are network namespaces that reach
each other on their private bridge and nothing else, everything it made is gone afterwards (also
after an error), and a short run of the command itself (a steady phase and an API host killed)
loses nothing and stores nothing twice. The worker host's takeover is left to `make scale`
itself: it waits out the stream's 60 s claim idle time.

Skipped, saying why, where network namespaces cannot be made (not root, no `ip netns`)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import psutil
import pytest
import redis

from stack import netns
from stack.servers import ROOT, start_redis

pytestmark = pytest.mark.system  # starts Redis on a host of its own, and the whole command


@pytest.fixture(autouse=True)
def namespaces_permitted() -> None:
    """Skip, saying why, where network namespaces cannot be made (asked when a test runs, not
    when the tests are collected: the question makes and removes one)."""
    if reason := netns.permitted():
        pytest.skip(reason)


def namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_hosts_reach_each_other_only_on_their_bridge_and_are_removed_after_an_error(tmp_path):
    net = netns.Network({"data": 2, "client": 3}, subnet="10.18.250")
    server = None
    with pytest.raises(RuntimeError, match="on purpose"):
        try:
            net.create()
            assert set(net.made()) <= namespaces()
            with net.inside("data") as host:
                assert socket.gethostname() == host.hostname
                server = start_redis(tmp_path / "redis", 6379, appendonly=False, host=host.address)
            assert socket.gethostname() != host.hostname  # back on this machine
            with net.inside("client"):
                client = redis.Redis.from_url(server.url, socket_connect_timeout=2)
                assert client.ping()
                client.close()
                # No route off the bridge: refused at once, before any packet is sent.
                with pytest.raises(OSError) as unreachable:
                    socket.create_connection(("192.0.2.1", 80), timeout=2)
                assert unreachable.value.errno == errno.ENETUNREACH
            assert net.pids("data") == [server.pid]
            raise RuntimeError("on purpose")
        finally:
            net.remove()
    assert not set(net.made()) and not {n for n in namespaces() if n.startswith(net.tag)}
    assert gone(server.pid)  # killed by remove(): at most a zombie until its parent reaps it


@pytest.mark.slow
def test_a_short_run_loses_nothing_and_removes_everything(service_root):
    folder = service_root / f"scale-{os.getpid()}"  # PostgreSQL's user must reach it
    command = [sys.executable, "-m", "stack.scale", "--folder", str(folder)]
    command += ["--phases", "steady,api", "--rounds", "0", "--rate", "60", "--seconds", "2"]
    command += ["--settle", "20", "--queues", "default"]  # the events need no other queue
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "API_PROCESSES": "1"},  # one gunicorn per API host: less to start
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: the command still removes what it made
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-5000:]
    table = output.split("   fault", 1)[1].split("\n\n", 1)[0]  # header to blank line
    rows = {
        name.strip(): values
        for name, *values in (line.rsplit(None, 9) for line in table.splitlines() if line)
        if name.strip().startswith(("steady", "API host"))
    }
    assert set(rows) == {"steady", "API host SIGKILL", "API host resend"}
    for name, (sent, accepted, *_, stored, twice, dead, lost) in rows.items():
        assert int(sent) > 0 and int(accepted) > 0, name
        assert int(stored) == int(accepted), name
        assert (int(twice), int(dead), int(lost)) == (0, 0, 0), name
    assert not {n for n in namespaces() if n.startswith(f"{netns.PREFIX}{process.pid}-")}
