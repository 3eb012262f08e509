"""The HTTP side of ``edged web``: the page, its script, ``/api/status``, ``/api/stream``
(server-sent events: one connection, frames and predictions pushed, no polling) and
``/metrics``. Standard library HTTP: a handful of routes, GET only, bounded everywhere (request
time, connections, streams, frame rate), so a web framework would add more than it saves."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edged.web.auth import COOKIE, Guard
from edged.web.feed import Feed
from edged.web.metrics import Metrics

log = logging.getLogger("edged.web")
MAX_CONNECTIONS = 64
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8")}


class App:
    """What the handlers share."""

    def __init__(self, feed: Feed, metrics: Metrics, guard: Guard, page_config: dict[str, Any],
                 max_clients: int, max_fps: float, stale_s: float) -> None:
        self.feed, self.metrics, self.guard = feed, metrics, guard
        self.page_config = page_config
        self.streams = threading.BoundedSemaphore(max_clients)
        self.connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.frame_interval = 1.0 / max_fps
        self.stale_s = stale_s
        self.stopping = threading.Event()
        self.static = {path: (resources.files("edged.web").joinpath("static", name)
                              .read_bytes(), ctype) for path, (name, ctype) in STATIC.items()}


class Server(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS at once. When all are taken, the connection that has waited
    longest without sending a request (a slowloris, an idle keep-alive) is closed to make
    room: connections that say nothing cannot lock honest clients out."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._idle: dict[Any, float] = {}  # connection -> since when it waits for a request
        self._idle_lock = threading.Lock()
        super().__init__(address, Handler)

    def waiting(self, conn: Any, idle: bool) -> None:
        with self._idle_lock:
            if idle:
                self._idle.setdefault(conn, time.monotonic())
            else:
                self._idle.pop(conn, None)

    def _evict_idlest(self) -> bool:
        with self._idle_lock:
            if not self._idle:
                return False
            conn = min(self._idle, key=self._idle.__getitem__)
            del self._idle[conn]
        try:
            conn.shutdown(socket.SHUT_RDWR)  # its handler reads EOF, ends, frees its slot
        except OSError:
            pass
        return True

    def process_request(self, request: Any, client_address: Any) -> None:
        connections = self.app.connections
        if not connections.acquire(blocking=False) and not (
                self._evict_idlest() and connections.acquire(timeout=2.0)):
            self.shutdown_request(request)  # all busy with real requests: refused at once
            return
        self.waiting(request, True)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.waiting(request, False)
            self.app.connections.release()


class Handler(BaseHTTPRequestHandler):
    server: Server
    timeout = 15  # seconds to send a request; a stalled reader of a stream is dropped too
    protocol_version = "HTTP/1.1"
    server_version = "edged-web"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s " + format, self.client_address[0], *args)

    @property
    def app(self) -> App:
        return self.server.app

    def handle_one_request(self) -> None:
        self.server.waiting(self.connection, True)  # until its request line and headers
        super().handle_one_request()

    def parse_request(self) -> bool:
        complete = super().parse_request()  # reads the headers: a dribbler is still idle
        self.server.waiting(self.connection, False)
        return complete

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        url = urlsplit(self.path)
        if not self.app.guard.host_ok(self.headers.get("Host")):
            return self._send(HTTPStatus.FORBIDDEN, b"host not allowed\n", "text/plain")
        query = parse_qs(url.query)
        if url.path == "/" and "token" in query:
            return self._login(query["token"][0])
        if not self.app.guard.allowed(self.headers.get("Authorization"),
                                      self.headers.get("Cookie")):
            extra = {"WWW-Authenticate": 'Basic realm="edged"'} if self.app.guard.basic else {}
            return self._send(HTTPStatus.UNAUTHORIZED, b"unauthorized\n", "text/plain", extra)
        if url.path in self.app.static:
            body, ctype = self.app.static[url.path]
            return self._send(HTTPStatus.OK, body, ctype)
        if url.path == "/api/status":
            return self._status()
        if url.path == "/metrics":
            return self._send(HTTPStatus.OK, self.app.metrics.render(),
                              "text/plain; version=0.0.4; charset=utf-8")
        if url.path == "/api/stream":
            return self._stream()
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"GET only\n", "text/plain", {"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def _login(self, token: str) -> None:
        if not self.app.guard.token_matches(token):
            return self._send(HTTPStatus.UNAUTHORIZED, b"unauthorized\n", "text/plain")
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/",
                                                             "Set-Cookie": cookie})

    def _status(self) -> None:
        snap = self.app.feed.snap
        if snap.status is None or not self.app.feed.status_fresh(self.app.stale_s):
            body = json.dumps({"error": "the daemon is not running (no status received)"})
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, body.encode(), "application/json")
        self._send(HTTPStatus.OK, json.dumps(snap.status).encode(), "application/json")

    def _send(self, code: int, body: bytes, ctype: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # --- server-sent events --------------------------------------------------------------
    def _stream(self) -> None:
        if not self.app.streams.acquire(blocking=False):
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"too many viewers\n",
                              "text/plain", {"Retry-After": "5"})
        self.close_connection = True
        self.app.feed.watch(+1)
        try:
            self.send_response(HTTPStatus.OK)
            for k, v in SECURITY_HEADERS.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self._event("config", self.app.page_config)
            self._pump()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            pass
        finally:
            self.app.feed.watch(-1)
            self.app.streams.release()

    def _event(self, name: str, data: Any) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _pump(self) -> None:
        app, version = self.app, 0
        sent_status: Any = None
        sent_frame: Any = None
        sent_pred: Any = None
        last_frame_at, last_beat = 0.0, time.monotonic()
        while not app.stopping.is_set():
            snap = app.feed.wait_newer(version, timeout=1.0)
            version, now = snap.version, time.monotonic()
            alive = app.feed.status_fresh(app.stale_s)
            if snap.status is not sent_status or not alive:
                self._event("status", {"status": snap.status, "up": alive,
                                       "frames": app.feed.frames_endpoint is not None})
                sent_status = snap.status
            if snap.frame is not None and snap.frame is not sent_frame:
                wait = last_frame_at + app.frame_interval - now
                if wait > 0:
                    app.stopping.wait(wait)  # at most max_fps to each page
                frame = app.feed.snap.frame
                self._event("frame", frame)
                sent_frame, last_frame_at = frame, time.monotonic()
            elif snap.prediction is not sent_pred and now - last_frame_at > 1.0:
                self._event("prediction", snap.prediction)  # no frames: still show results
                sent_pred = snap.prediction
                app.stopping.wait(app.frame_interval)
            if now - last_beat > 10:
                self.wfile.write(b": keepalive\n\n")
                self.wfile.flush()
                last_beat = now
