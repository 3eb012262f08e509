"""edged.notify against a real unix datagram socket standing in for systemd's notify socket:
a path in a tmp dir and an abstract '@' name, through the pure-Python datagram fallback and
through systemd-python's systemd.daemon.notify (apt python3-systemd, imported by the system
python3), checking the exact datagrams; and that nothing raises or blocks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edged.notify import Notifier, socket_address

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"


class Receiver:
    """Binds where systemd would listen; hands out what arrives, one datagram per message."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.sock.settimeout(10)

    def recv(self) -> str:
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        self.sock.settimeout(10)
        return out


@pytest.fixture(params=["path", "abstract"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Receiver]:
    if request.param == "path":
        address = str(tmp_path / "notify.sock")
    else:
        address = f"@edged-test-notify-{os.getpid()}-{time.monotonic_ns()}"
    r = Receiver(address)
    yield r
    r.sock.close()


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def lifecycle(n: Notifier) -> tuple[int, int]:
    """Every call the daemon makes, in a daemon's order; returns the clock around reloading()."""
    n.status("loading model mobilenet.tflite")
    n.extend_timeout(2.5)
    n.ready("running: 14.8 fps, 3 subscribers, 0 dropped")
    n.watchdog()
    before = monotonic_usec()
    n.reloading()
    after = monotonic_usec()
    n.ready()
    n.watchdog_trigger()
    n.stopping()
    return before, after


EXPECTED_HEAD = [
    "STATUS=loading model mobilenet.tflite",
    "EXTEND_TIMEOUT_USEC=2500000",
    "READY=1\nSTATUS=running: 14.8 fps, 3 subscribers, 0 dropped",
    "WATCHDOG=1",
]
EXPECTED_TAIL = ["READY=1", "WATCHDOG=trigger", "STOPPING=1"]


def assert_lifecycle(got: list[str], before: int, after: int) -> None:
    assert got[:4] == EXPECTED_HEAD
    reloading = got[4].split("\n")
    assert reloading[0] == "RELOADING=1" and len(reloading) == 2
    name, usec = reloading[1].split("=")
    assert name == "MONOTONIC_USEC" and before <= int(usec) <= after
    assert got[5:] == EXPECTED_TAIL


def test_datagram_fallback_sends_the_exact_messages(receiver: Receiver,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    n = Notifier()
    n._systemd_notify = None  # the fallback, even where systemd-python is importable
    before, after = lifecycle(n)
    got = [receiver.recv() for _ in range(8)]
    assert_lifecycle(got, before, after)
    assert receiver.pending() == []  # one datagram per call, nothing else


def require_system_python_with_systemd() -> None:
    has = Path(SYSTEM_PYTHON).exists() and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import systemd.daemon, systemd.journal"],
        capture_output=True).returncode == 0
    if not has:
        if os.environ.get("CI") == "true":
            pytest.fail("python3-systemd missing under CI (apt install python3-systemd)")
        pytest.skip(f"systemd-python not importable by {SYSTEM_PYTHON} "
                    "(apt install python3-systemd)")


def test_with_systemd_python_a_unix_socket_still_gets_the_non_blocking_datagram(
        receiver: Receiver) -> None:
    """libsystemd's sd_notify blocks on a full notify queue (a blocking sendmsg): where
    systemd-python is importable, a unix NOTIFY_SOCKET is still served by edged's own
    non-blocking datagram, with the same messages; systemd-python is kept for vsock."""
    require_system_python_with_systemd()
    script = (
        "import json, sys, time\n"
        "from edged.notify import Notifier\n"
        "assert Notifier('vsock:2:1234').backend == 'systemd-python'\n"
        "n = Notifier()\n"
        "assert n.backend == 'datagram', n.backend\n"
        "t = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000\n"
        "n.status('loading model mobilenet.tflite'); n.extend_timeout(2.5)\n"
        "n.ready('running: 14.8 fps, 3 subscribers, 0 dropped'); n.watchdog()\n"
        "b = t(); n.reloading(); a = t()\n"
        "n.ready(); n.watchdog_trigger(); n.stopping()\n"
        "print(json.dumps([b, a]))\n")
    env = {**os.environ, "NOTIFY_SOCKET": receiver.address, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    before, after = json.loads(r.stdout)
    got = [receiver.recv() for _ in range(8)]
    assert_lifecycle(got, before, after)


def test_a_newline_in_a_status_cannot_inject_a_field(receiver: Receiver,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.address)
    n = Notifier()
    n._systemd_notify = None
    n.status("degraded: camera said\nREADY=1")
    assert receiver.recv() == "STATUS=degraded: camera said READY=1"


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled and n.backend == "off"
    lifecycle(n)  # no socket is even created
    assert n._sock is None


@pytest.mark.parametrize("address", ["/nonexistent/notify.sock", "@", "relative.sock",
                                     "/" + "x" * 200])
def test_an_undeliverable_address_never_raises(address: str) -> None:
    n = Notifier(address)
    lifecycle(n)


def test_a_full_systemd_queue_does_not_block(tmp_path: Path) -> None:
    """A notify socket nobody reads (PID 1 busy): sends are dropped, never blocking the
    daemon's supervisor loop. A blocking send would hang this thread for good."""
    r = Receiver(str(tmp_path / "notify.sock"))
    n = Notifier(r.address)
    done = threading.Event()

    def flood() -> None:
        for _ in range(2000):
            n.watchdog()
        done.set()

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    assert done.wait(30), "Notifier.send blocked on a full notify socket"
    received = len(r.pending())
    assert 0 < received < 2000  # the queue filled up and the rest was dropped
    n.watchdog()  # systemd reads again: delivery resumes
    assert r.recv() == "WATCHDOG=1"
    r.sock.close()


def fill(address: str) -> int:
    """Datagrams into ``address`` until its queue is full (systemd not reading)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setblocking(False)
    n = 0
    try:
        while True:
            s.sendto(b"FILL=1", address)
            n += 1
    except BlockingIOError:
        return n
    finally:
        s.close()


def test_a_ready_lost_to_a_full_queue_is_resent(tmp_path: Path) -> None:
    """Dropped, READY=1 would make systemd kill a healthy daemon at TimeoutStartSec."""
    r = Receiver(str(tmp_path / "notify.sock"))
    n = Notifier(r.address)
    assert fill(r.address) > 0
    n.ready("running")
    assert n.ready_pending == "READY=1\nSTATUS=running"
    n.retry_ready()  # still full: kept
    assert n.ready_pending is not None
    got = r.pending()
    assert set(got) == {"FILL=1"}  # the first READY was not delivered
    n.watchdog()
    n.retry_ready()
    assert n.ready_pending is None
    assert r.pending() == ["WATCHDOG=1", "READY=1\nSTATUS=running"]
    n.retry_ready()  # nothing pending: nothing sent
    assert r.pending() == []
    r.sock.close()


@pytest.mark.parametrize(("usec", "pid", "expected"), [
    ("600000", None, 0.3),
    ("600000", "self", 0.3),
    ("600000", "1", None),  # the watchdog is meant for another process
    (None, None, None),
    ("0", None, None),
    ("abc", None, None),
])
def test_watchdog_interval(usec: str | None, pid: str | None, expected: float | None,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(os.getpid()) if value == "self" else value)
    assert Notifier("").watchdog_interval() == expected


def test_run_outside_systemd_sends_nothing_and_logs_plainly(tmp_path: Path) -> None:
    """`edged run` in a terminal: no NOTIFY_SOCKET, no INVOCATION_ID: plain stderr logs."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "INVOCATION_ID", "JOURNAL_STREAM", "WATCHDOG_USEC")}
    env["PYTHONPATH"] = str(ROOT)
    code = ("from edged.logsetup import setup_logging\n"
            "import logging\n"
            "print(setup_logging('INFO'))\n"
            "logging.getLogger('edged.daemon').info('hello')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.stdout.strip() == "stderr"
    line = r.stderr.strip()
    assert line.endswith("INFO edged.daemon: hello") and not line.startswith("<")
