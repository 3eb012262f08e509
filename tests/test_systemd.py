"""The daemon as systemd sees it: a real unix datagram socket stands in for systemd's notify
socket (the unit file itself: tests/test_unit.py)."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import receive_json, subscribe


class NotifySocket:
    def __init__(self, address: str, bind_to: str | bytes) -> None:
        self.address = address  # what goes in $NOTIFY_SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.messages: list[list[str]] = []
        self.cursor = 0  # until() looks at messages from here on

    def collect(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return
            self.messages.append(data.decode().split("\n"))

    def until(self, field: str, timeout: float = 30.0) -> None:
        """Wait for a message with ``field`` after the one the previous call found."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self.cursor, len(self.messages)):
                if field in self.messages[i]:
                    self.cursor = i + 1
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"no {field} within {timeout}s; got {self.messages}")
            self.collect(0.2)

    def events(self) -> list[str]:
        """The lifecycle fields in order, STATUS= lines left out."""
        return [f for m in self.messages for f in m if not f.startswith("STATUS=")]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    path = tmp_path / "notify.sock"
    ns = NotifySocket(str(path), str(path))
    yield ns
    ns.sock.close()


def cat_config(td: Path) -> dict:
    return {"source": {"type": "images", "path": str(td / "images/cat.bmp"), "fps": 30},
            "model": {"path": str(td / "models/mobilenet_v1_0.25_128_quant.tflite"),
                      "threads": 1}}


@pytest.mark.testdata
def test_ready_watchdog_reload_stop_sequence(testdata: Path, notify_socket: NotifySocket,
                                             daemon_factory) -> None:
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "600000"}
    d = daemon_factory(cat_config(testdata), env=env)
    notify_socket.until("READY=1")
    # READY only once a prediction was published: a subscriber gets one straight away
    receive_json(subscribe(d.endpoint), 1)
    notify_socket.collect(1.5)  # pings every 0.3 s while frames flow
    d.signal(signal.SIGHUP)
    notify_socket.until("RELOADING=1")
    notify_socket.until("READY=1")
    notify_socket.collect(0.7)
    assert d.stop() == 0
    notify_socket.collect(0.5)
    events = notify_socket.events()
    assert events[0].startswith("EXTEND_TIMEOUT_USEC=")
    first_ready = events.index("READY=1")
    reloading = events.index("RELOADING=1")
    assert events[reloading + 1].startswith("MONOTONIC_USEC=")
    assert int(events[reloading + 1].split("=")[1]) > 0
    assert events.index("READY=1", reloading) > reloading
    assert events[-1] == "STOPPING=1"
    pings_before_reload = events[first_ready:reloading].count("WATCHDOG=1")
    assert pings_before_reload >= 3
    statuses = [f for m in notify_socket.messages for f in m if f.startswith("STATUS=")]
    assert any("fps" in s and "subscribers" in s for s in statuses)


@pytest.mark.testdata
def test_a_ready_dropped_by_a_full_notify_queue_is_resent(
        testdata: Path, notify_socket: NotifySocket, daemon_factory) -> None:
    """systemd busy: its notify queue is full when the daemon says READY=1. Lost, it would
    leave the unit 'activating' until TimeoutStartSec kills a healthy daemon."""
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    try:
        while True:
            filler.sendto(b"FILL=1", notify_socket.address)
    except BlockingIOError:
        pass  # full: every send from the daemon fails until the test reads
    filler.close()
    d = daemon_factory(cat_config(testdata), env={"NOTIFY_SOCKET": notify_socket.address})
    deadline = time.monotonic() + 60
    while "running: run_id" not in d.log():  # logged right after the READY attempt
        assert d.proc.poll() is None and time.monotonic() < deadline, d.log()
        time.sleep(0.05)
    notify_socket.until("READY=1")
    assert d.stop() == 0


@pytest.mark.testdata
def test_abstract_notify_socket(testdata: Path, daemon_factory) -> None:
    name = f"edged-test-{os.getpid()}"
    ns = NotifySocket("@" + name, "\0" + name)
    try:
        d = daemon_factory(cat_config(testdata), env={"NOTIFY_SOCKET": ns.address})
        ns.until("READY=1")
        assert d.stop() == 0
        ns.collect(0.5)
        assert ns.events()[-1] == "STOPPING=1"
        assert "WATCHDOG=1" not in ns.events()  # no WATCHDOG_USEC: no pings
    finally:
        ns.sock.close()


@pytest.mark.testdata
def test_watchdog_pings_stop_while_the_camera_stalls(testdata: Path, tmp_path: Path,
                                                     notify_socket: NotifySocket,
                                                     daemon_factory) -> None:
    """A camera that stops delivering (fake picamera2: hardware is absent here) must not be
    covered up by pings: systemd would restart the service after WatchdogSec."""
    from test_camera_daemon import Camera

    camera = Camera(tmp_path / "camera.json", testdata / "images/parrot.jpg")
    camera.set()
    config = {"source": {"type": "picamera2", "backoff": {"initial_s": 0.1, "max_s": 0.2}},
              "model": {"path": str(testdata / "models/mobilenet_v1_0.25_128_quant.tflite"),
                        "threads": 1}}
    env = {**camera.env(), "NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "400000"}
    d = daemon_factory(config, env=env)
    notify_socket.until("READY=1")
    notify_socket.until("WATCHDOG=1")
    camera.set(timeouts=1_000_000)  # every capture times out from now on
    notify_socket.collect(1.5)  # let the last frames in flight drain
    stalled_from = len(notify_socket.messages)
    notify_socket.collect(2.0)
    stalled = [f for m in notify_socket.messages[stalled_from:] for f in m]
    assert "WATCHDOG=1" not in stalled
    assert any(f.startswith("STATUS=degraded") for f in stalled) or d.proc.poll() is None
    camera.set()  # the camera comes back: pings resume
    notify_socket.cursor = len(notify_socket.messages)
    notify_socket.until("WATCHDOG=1", timeout=20)
    assert d.stop() == 0
