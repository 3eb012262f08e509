"""`edged web` against hostile HTTP clients (real process, real sockets): connections that
never send a request (slowloris), a request dribbled a byte at a time, oversized request
lines and headers, path tricks, methods other than GET. Each gets a bounded answer and an
honest client is still served. The token and Host-header checks live in tests/test_web.py."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from webhelp import WebProcess, wait_for  # noqa: E402

pytest.importorskip("prometheus_client", reason="prometheus-client is in the dev extra")

MAX_CONNECTIONS = 64


def web(tmp_path: Path) -> WebProcess:
    return WebProcess(tmp_path, {"publish": {"endpoint": f"ipc://{tmp_path}/none.sock"}})


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def raw(port: int, data: bytes, timeout: float = 20.0) -> bytes:
    """Send ``data``, read the answer until the server closes or answers fully."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and b"Content-Length: 0" not in chunks[0]:
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = [int(h.split(b":")[1]) for h in head.split(b"\r\n")
                          if h.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        return b"".join(chunks)


def test_connections_that_never_send_a_request_cannot_lock_out_an_honest_client(
        tmp_path: Path) -> None:
    w = web(tmp_path)
    silent = []
    try:
        for _ in range(3 * MAX_CONNECTIONS):  # three times the cap, all silent
            s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
            s.sendall(b"GET /api/sta")  # a request line that never ends
            silent.append(s)
        for _ in range(5):  # each honest request is answered, not dropped
            code, _h, _b = w.get("/api/status")
            assert code == 503  # the daemon is down: a clear answer, not a reset
        # the oldest silent connections were closed to make room
        closed = 0
        for s in silent[:MAX_CONNECTIONS]:
            s.settimeout(20)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
        assert closed >= MAX_CONNECTIONS - 5
        assert w.proc.poll() is None and rss_mb(w.proc.pid) < 150
    finally:
        for s in silent:
            s.close()
    assert w.stop() == 0


def test_a_request_dribbled_through_its_headers_is_still_evictable(tmp_path: Path) -> None:
    w = web(tmp_path)
    dribblers = []
    try:
        for _ in range(MAX_CONNECTIONS + 8):
            s = socket.create_connection(("127.0.0.1", w.port), timeout=20)
            s.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: b\r\n")
            dribblers.append(s)
        assert w.get("/api/status")[0] == 503
    finally:
        for s in dribblers:
            s.close()
    assert w.stop() == 0


@pytest.mark.parametrize(("request_bytes", "codes"), [
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", (b"414",)),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n",
     (b"431", b"400")),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Many: 1\r\n" * 200 + b"\r\n",
     (b"431", b"400")),
    (b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", (b"404",)),
    (b"GET /app.js/../../web.yaml HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", (b"404",)),
    (b"POST /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello",
     (b"405",)),
    # a TLS hello to the plain-HTTP port: no line end, so closed at the request timeout
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200), (b"closed", b"400")),
])
def test_malformed_and_oversized_requests_get_a_bounded_answer(
        tmp_path: Path, request_bytes: bytes, codes: tuple[bytes, ...]) -> None:
    w = web(tmp_path)
    answer = raw(w.port, request_bytes)
    code = answer.split(b" ")[1] if answer else b"closed"
    assert code in codes, answer[:200]
    assert b"root:" not in answer
    wait_for(lambda: w.get("/api/status")[0] == 503, 30, "the server to answer again")
    assert w.stop() == 0
