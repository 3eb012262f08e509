"""systemd notification (sd_notify). Outside systemd ($NOTIFY_SOCKET unset) every call is a
no-op. For a unix socket address (a path, or an abstract name starting with '@': what systemd
gives a service) edged sends the datagram itself, non-blocking: libsystemd's sd_notify, which
systemd-python wraps, sends on a blocking socket, and while systemd's notify queue is full it
blocks holding the GIL, which freezes every thread of the process (seen with Debian's
python3-systemd 235: a filled queue, and the main thread never ran again). systemd-python is
used only for the addresses edged cannot reach itself (``vsock:``, as in a VM).

Nothing here raises or blocks: a notification that cannot be delivered (systemd gone, its
queue full, a bad address) is dropped, because it must never stop the daemon. READY=1 is the
exception that is kept: lost, systemd would kill a healthy daemon at TimeoutStartSec, so an
undelivered READY stays pending and ``retry_ready`` (called from the daemon's loop) resends it."""

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


def _field(name: str, value: str) -> str:
    """One NAME=value line; a newline in the value would start another field."""
    return f"{name}={' '.join(value.splitlines())}"


def socket_address(address: str) -> str | bytes:
    """$NOTIFY_SOCKET as a socket address: '@name' is the abstract name '\\0name'."""
    if address.startswith("@"):
        return b"\0" + address[1:].encode()
    return address


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._sock: socket.socket | None = None
        unix = self.address[:1] in ("/", "@")
        self._systemd_notify = None if unix or not self.address else _systemd_notify()
        self.backend = "off" if not self.address else \
            "systemd-python" if self._systemd_notify is not None else "datagram"
        self.ready_pending: str | None = None  # an undelivered READY message

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """True when delivered (or when there is no systemd to tell)."""
        if not self.address:
            return True
        message = "\n".join(fields)
        if self._systemd_notify is not None and self.address == os.environ.get("NOTIFY_SOCKET"):
            try:
                if self._systemd_notify(message) is not False:
                    return True
            except Exception:  # noqa: BLE001 - fall back to our own datagram
                pass
        return self._send_datagram(message.encode("utf-8", "replace"))

    def _send_datagram(self, data: bytes) -> bool:
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(data, socket_address(self.address))
            return True
        except (OSError, ValueError):
            return False  # systemd gone, its queue full, or a bad address: never break

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def ready(self, status: str = "") -> None:
        fields = ("READY=1", *([_field("STATUS", status)] if status else []))
        self.ready_pending = None if self.send(*fields) else "\n".join(fields)

    def retry_ready(self) -> None:
        """Resend a READY that could not be delivered (a repeated READY=1 is harmless)."""
        if self.ready_pending is not None and self.send(self.ready_pending):
            self.ready_pending = None

    def status(self, text: str) -> None:
        self.send(_field("STATUS", text))

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
        """Seconds between pings systemd expects (half of WatchdogSec), or None when no
        watchdog is set for this process."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if pid and pid != str(os.getpid()):
            return None
        try:
            value = int(usec)
        except ValueError:
            return None
        return value / 2e6 if value > 0 else None
