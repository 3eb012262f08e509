"""Hostile ZeroMQ peers for the socket tests, speaking ZMTP 3.0 over a raw tcp socket (a
libzmq SUB socket drops its own subscriptions past its high-water mark, so it cannot flood).

Also a command line, to measure the same attacks against any running daemon:
    python tests/adversarial/sockattack.py flood PORT SECONDS
    python tests/adversarial/sockattack.py bigsub PORT MEGABYTES
    python tests/adversarial/sockattack.py idle PORT COUNT SECONDS
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from pathlib import Path


def greeting() -> bytes:
    """ZMTP 3.0 greeting, NULL mechanism, as a client."""
    return b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32


def frame(body: bytes, command: bool = False) -> bytes:
    flags = 4 if command else 0
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def ready(kind: bytes = b"SUB") -> bytes:
    return frame(b"\x05READY\x0bSocket-Type" + struct.pack(">I", len(kind)) + kind, command=True)


def connect(port: int | str, handshake: bool = True, timeout: float = 10.0) -> socket.socket:
    """A raw connection to 127.0.0.1:PORT (or to the ipc socket at PATH); with
    ``handshake``, a finished NULL handshake as a SUB peer that subscribed to nothing."""
    if isinstance(port, str):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(port)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if handshake:
        s.sendall(greeting() + ready())
        got = b""
        while len(got) < 64:  # the server's greeting
            chunk = s.recv(64 - len(got))
            if not chunk:
                raise ConnectionError("closed during the handshake")
            got += chunk
    return s


def flood(port: int | str, seconds: float) -> tuple[int, int]:
    """Unique subscriptions as fast as the daemon reads them, reconnecting whenever it drops
    us; (subscriptions sent, connections dropped)."""
    sent = dropped = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            s = connect(port, timeout=2.0)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            while time.monotonic() < deadline:
                batch = b"".join(frame(b"\x01x%015d" % (sent + k)) for k in range(1000))
                s.sendall(batch)
                sent += 1000
        except OSError:
            dropped += 1
        finally:
            s.close()
    return sent, dropped


def big_subscription(port: int, size: int) -> bool:
    """One subscription frame of ``size`` bytes; True when the daemon closed on us."""
    s = connect(port)
    body = b"\x01" + b"A" * (size - 1)
    try:
        s.sendall(frame(body))
        s.settimeout(10)
        return s.recv(1 << 16) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    finally:
        s.close()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssWatch:
    """Samples a process's RSS every 50 ms; kills it past ``ceiling_mb``."""

    def __init__(self, pid: int, ceiling_mb: float) -> None:
        self.pid, self.ceiling_kb = pid, int(ceiling_mb * 1024)
        self.peak_kb = 0
        self.killed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import os
        import signal

        while not self._stop.wait(0.05):
            try:
                kb = rss_kb(self.pid)
            except OSError:
                return
            self.peak_kb = max(self.peak_kb, kb)
            if kb > self.ceiling_kb:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)
                return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str]) -> None:
    verb, port = argv[0], (int(argv[1]) if argv[1].isdigit() else argv[1])
    if verb == "flood":
        sent, dropped = flood(port, float(argv[2]))
        print(f"sent {sent} subscriptions, dropped {dropped} times")
    elif verb == "bigsub":
        assert isinstance(port, int)
        print("closed by the daemon:", big_subscription(port, int(float(argv[2]) * 2**20)))
    elif verb == "idle":
        conns = [connect(port) for _ in range(int(argv[2]))]
        print(f"{len(conns)} idle connections open", flush=True)
        time.sleep(float(argv[3]))


if __name__ == "__main__":
    main(sys.argv[1:])
