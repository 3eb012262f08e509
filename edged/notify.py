"""systemd notification (sd_notify). Outside systemd ($NOTIFY_SOCKET unset) every call is a
no-op. Uses systemd-python's ``systemd.daemon.notify`` when importable (apt python3-systemd),
else a datagram to $NOTIFY_SOCKET (a path, or an abstract name starting with '@')."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import cast


def _systemd_notify() -> Callable[[str], object] | None:
    try:
        from systemd.daemon import notify
    except ImportError:
        return None
    return cast(Callable[[str], object], notify)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        self._systemd_notify = _systemd_notify()

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> None:
        if not self.address:
            return
        message = "\n".join(fields)
        if self._systemd_notify is not None and self.address == os.environ.get("NOTIFY_SOCKET"):
            try:
                self._systemd_notify(message)
                return
            except OSError:
                pass
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.sendto(message.encode(), addr)
        except OSError:
            pass  # systemd gone or socket full: never let notification break the daemon

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def watchdog_trigger(self) -> None:
        self.send("WATCHDOG=trigger")

    def extend_timeout(self, seconds: float) -> None:
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings systemd expects (half of WatchdogSec), or None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        return int(usec) / 2e6
