"""A local model server for the tests: ../shared/testdata's models and labels under flat file
names (as upstream and as a --mirror serves them), on a free port, with misbehaving modes
selected by the first path segment: /ok/, /truncated/, /slow/, /interrupt/, /stall/,
/error500/, /norange/. Every request is recorded (path and Range header)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folders: list[Path], stall_s: float = 3.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.folders = folders
        self.stall_s = stall_s
        self.requests: list[tuple[str, str | None]] = []
        self.seen: dict[str, int] = {}  # (mode, name) -> requests so far
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def find(self, name: str) -> Path | None:
        for folder in self.folders:
            p = folder / name
            if p.is_file():
                return p
        return None


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        mode, _, name = self.path.lstrip("/").partition("/")
        rng = self.headers.get("Range")
        with srv.lock:
            srv.requests.append((self.path, rng))
            count = srv.seen.get(self.path, 0)
            srv.seen[self.path] = count + 1
        path = srv.find(name)
        if path is None:
            self.send_error(404)
            return
        if mode == "error500" and count == 0:
            self.send_error(500)
            return
        data = path.read_bytes()
        start = 0
        if rng and mode != "norange" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.send_error(416)
                return
        body = data[start:]
        if mode == "truncated":
            body = body[: len(body) // 2]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        first = count == 0
        if mode in ("interrupt", "stall") and first:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "stall":
                time.sleep(srv.stall_s)  # the client's read timeout fires first
            self.close_connection = True
            return
        step = 64 * 1024
        for i in range(0, len(body), step):
            self.wfile.write(body[i:i + step])
            if mode == "slow":
                self.wfile.flush()
                time.sleep(0.02)


@contextmanager
def serve(folders: list[Path], stall_s: float = 3.0) -> Iterator[ModelServer]:
    srv = ModelServer(folders, stall_s)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
